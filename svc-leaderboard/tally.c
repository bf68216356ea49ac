/* tally.c - every board of an org from its ledger rows (see tally.h).
 *
 * The rows are kept as ids into one string table. For each board family
 * (window x subject x scope) the counted awards are walked in subject order
 * (a counting sort by member, or by team, done once), so each subject's
 * awards on a board arrive one after another and sum into that board's last
 * entry; a hash map finds the board of (period, scope id). Each board's
 * entries are then sorted by score (a radix sort of the doubles' bits) and
 * handed out. */
#include "tally.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define DAY_MS 86400000LL

/* ---- strings: each distinct one once, by id; id 0 is "" ---- */

typedef struct strtab {
  char *buf;
  size_t len, cap;
  size_t *off;          /* id -> offset in buf */
  uint32_t n, ids_cap;
  uint32_t *slot;       /* id + 1, 0 free */
  uint32_t mask;
} strtab;

static void *xrealloc(void *p, size_t n) {
  p = realloc(p, n ? n : 1);
  if (!p) abort();
  return p;
}

static const char *str_of(const strtab *s, uint32_t id) { return s->buf + s->off[id]; }

static void str_rehash(strtab *s) {
  uint32_t cap = s->mask ? (s->mask + 1) * 2 : 1024;
  free(s->slot);
  s->slot = calloc(cap, sizeof *s->slot);
  if (!s->slot) abort();
  s->mask = cap - 1;
  for (uint32_t id = 0; id < s->n; id++) {
    uint32_t h = hash_str(HASH_INIT, str_of(s, id)) & s->mask;
    while (s->slot[h]) h = (h + 1) & s->mask;
    s->slot[h] = id + 1;
  }
}

static uint32_t intern(strtab *s, const char *str) {
  if ((uint64_t)(s->n + 1) * 2 > (uint64_t)s->mask + 1) str_rehash(s);
  uint32_t h = hash_str(HASH_INIT, str) & s->mask;
  for (; s->slot[h]; h = (h + 1) & s->mask)
    if (strcmp(str_of(s, s->slot[h] - 1), str) == 0) return s->slot[h] - 1;
  size_t len = strlen(str) + 1;
  if (s->len + len > s->cap) {
    s->cap = s->cap ? s->cap * 2 : 1 << 16;
    while (s->cap < s->len + len) s->cap *= 2;
    s->buf = xrealloc(s->buf, s->cap);
  }
  if (s->n == s->ids_cap) {
    s->ids_cap = s->ids_cap ? s->ids_cap * 2 : 1024;
    s->off = xrealloc(s->off, sizeof *s->off * s->ids_cap);
  }
  memcpy(s->buf + s->len, str, len);
  s->off[s->n] = s->len;
  s->len += len;
  s->slot[h] = s->n + 1;
  return s->n++;
}

/* ---- the tally ---- */

typedef struct award {
  uint32_t who, team, badge, category;
  int64_t points, ms;
} award;

typedef struct named {   /* a recipient's latest name, by the recipient's string id */
  int64_t ms;
  uint32_t team, name;   /* name 0: none yet */
} named;

struct tally {
  strtab s;
  award *a;   /* retracted ones with no points: their time still counts */
  size_t n, cap;
  int64_t counted;
  named *names;
  uint32_t names_cap;
};

tally *tally_new(void) {
  tally *t = calloc(1, sizeof *t);
  if (!t) abort();
  intern(&t->s, "");
  return t;
}

void tally_free(tally *t) {
  if (!t) return;
  free(t->s.buf);
  free(t->s.off);
  free(t->s.slot);
  free(t->a);
  free(t->names);
  free(t);
}

int64_t tally_awards(const tally *t) { return t->counted; }

void tally_add(tally *t, const char *recipient, const char *team, const char *badge, const char *category,
               int64_t points, int64_t granted_ms, const char *name, int counted) {
  uint32_t who = intern(&t->s, recipient), tm = intern(&t->s, team);
  if (*name) {
    if (who >= t->names_cap) {
      uint32_t cap = t->names_cap ? t->names_cap : 1024;
      while (cap <= who) cap *= 2;
      t->names = xrealloc(t->names, sizeof *t->names * cap);
      memset(t->names + t->names_cap, 0, sizeof *t->names * (cap - t->names_cap));
      t->names_cap = cap;
    }
    named *nm = &t->names[who];
    if (!nm->name || granted_ms > nm->ms) *nm = (named){granted_ms, tm, intern(&t->s, name)};
  }
  if (counted) t->counted++;
  if (t->n == t->cap) {
    t->cap = t->cap ? t->cap * 2 : 4096;
    t->a = xrealloc(t->a, sizeof *t->a * t->cap);
  }
  t->a[t->n++] = (award){who, tm, intern(&t->s, badge), intern(&t->s, category), counted ? points : 0, granted_ms};
}

int tally_names(tally *t, int (*fn)(void *arg, const char *id, const char *team, const char *name), void *arg) {
  for (uint32_t id = 0; id < t->names_cap && id < t->s.n; id++) {
    const named *nm = &t->names[id];
    if (!nm->name) continue;
    int rc = fn(arg, str_of(&t->s, id), str_of(&t->s, nm->team), str_of(&t->s, nm->name));
    if (rc) return rc;
  }
  return 0;
}

/* ---- periods ---- */

/* civil: the UTC date of day |z| since 1970-01-01 (H. Hinnant's algorithm). */
static void civil(int64_t z, int64_t *y, int *m, int *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, int m, int d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int64_t floor_div(int64_t a, int64_t b) { return a / b - (a % b != 0 && (a < 0) != (b < 0)); }

int64_t tally_period_code(int window, int64_t ms) {
  /* As boards_period: whole seconds first (C division), then the UTC day. */
  int64_t z = floor_div(ms / 1000, 86400), y;
  int m, d;
  civil(z, &y, &m, &d);
  switch (window) {
    case WIN_WEEK: {   /* the ISO week: the year of its Thursday, counted from that year's first Thursday */
      int64_t monday0 = (z + 3) - floor_div(z + 3, 7) * 7;   /* 1970-01-01 was a Thursday */
      int64_t thursday = z - monday0 + 3;
      int64_t ty;
      int tm, td;
      civil(thursday, &ty, &tm, &td);
      return ty * 100 + (thursday - days_from_civil(ty, 1, 1)) / 7 + 1;
    }
    case WIN_MONTH: return y * 100 + m;
    case WIN_QUARTER: return y * 10 + (m - 1) / 3 + 1;
    case WIN_YEAR: return y;
    case WIN_ROLLING:
    case WIN_DAY: return y * 10000 + m * 100 + d;
    default: return 0;
  }
}

/* ---- boards of one family ---- */

typedef struct entry {
  uint32_t who;
  int64_t points, last;
} entry;

typedef struct fboard {
  int64_t code;
  uint32_t scope;
  int64_t first_ms;   /* an award's time on it, for its period's name */
  entry *e;
  size_t n, cap;
} fboard;

typedef struct family {
  fboard *b;
  uint32_t n, cap;
  uint32_t *slot;   /* board index + 1, 0 free */
  uint32_t mask;
} family;

static uint32_t board_hash(int64_t code, uint32_t scope) {
  uint64_t x = (uint64_t)code * 0x9e3779b97f4a7c15ULL ^ ((uint64_t)scope * 0xc2b2ae3d27d4eb4fULL);
  return (uint32_t)(x ^ (x >> 29));
}

static void family_rehash(family *f) {
  uint32_t cap = f->mask ? (f->mask + 1) * 2 : 256;
  free(f->slot);
  f->slot = calloc(cap, sizeof *f->slot);
  if (!f->slot) abort();
  f->mask = cap - 1;
  for (uint32_t i = 0; i < f->n; i++) {
    uint32_t h = board_hash(f->b[i].code, f->b[i].scope) & f->mask;
    while (f->slot[h]) h = (h + 1) & f->mask;
    f->slot[h] = i + 1;
  }
}

static fboard *family_board(family *f, int64_t code, uint32_t scope, int64_t ms) {
  if ((uint64_t)(f->n + 1) * 2 > (uint64_t)f->mask + 1) family_rehash(f);
  uint32_t h = board_hash(code, scope) & f->mask;
  for (; f->slot[h]; h = (h + 1) & f->mask) {
    fboard *b = &f->b[f->slot[h] - 1];
    if (b->code == code && b->scope == scope) return b;
  }
  if (f->n == f->cap) {
    f->cap = f->cap ? f->cap * 2 : 256;
    f->b = xrealloc(f->b, sizeof *f->b * f->cap);
  }
  f->slot[h] = f->n + 1;
  fboard *b = &f->b[f->n++];
  *b = (fboard){.code = code, .scope = scope, .first_ms = ms};
  return b;
}

static void family_clear(family *f) {
  for (uint32_t i = 0; i < f->n; i++) free(f->b[i].e);
  f->n = 0;
  if (f->slot) memset(f->slot, 0, sizeof *f->slot * ((size_t)f->mask + 1));
}

/* ---- sorting a board by score, highest first ---- */

typedef struct scored {
  uint64_t key;   /* the score's bits, flipped to sort as unsigned integers */
  uint32_t who;
} scored;

static uint64_t score_key(double score) {
  uint64_t bits;
  memcpy(&bits, &score, sizeof bits);
  return bits >> 63 ? ~bits : bits | (1ULL << 63);
}

static double key_score(uint64_t key) {
  uint64_t bits = key >> 63 ? key & ~(1ULL << 63) : ~key;
  double score;
  memcpy(&score, &bits, sizeof score);
  return score;
}

static int scored_desc(const void *x, const void *y) {
  uint64_t a = ((const scored *)x)->key, b = ((const scored *)y)->key;
  return a < b ? 1 : a > b ? -1 : 0;
}

/* sort_desc: insertion sort for small boards, qsort for middling ones, and
 * for big ones an LSD radix sort on 11-bit digits that skips the digits
 * every key shares. */
static void sort_desc(scored *a, scored *tmp, size_t n) {
  if (n > 32 && n < 4096) {
    qsort(a, n, sizeof *a, scored_desc);
    return;
  }
  if (n <= 32) {
    for (size_t i = 1; i < n; i++) {
      scored x = a[i];
      size_t j = i;
      for (; j > 0 && a[j - 1].key < x.key; j--) a[j] = a[j - 1];
      a[j] = x;
    }
    return;
  }
  static const int bits = 11;
  size_t count[1 << 11];
  for (int shift = 0; shift < 64; shift += bits) {
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < n; i++) count[((a[i].key >> shift) & 0x7ff) ^ 0x7ff]++;   /* ^: descending */
    if (count[((a[0].key >> shift) & 0x7ff) ^ 0x7ff] == n) continue;
    size_t sum = 0;
    for (int d = 0; d < (1 << bits); d++) {
      size_t c = count[d];
      count[d] = sum;
      sum += c;
    }
    for (size_t i = 0; i < n; i++) tmp[count[((a[i].key >> shift) & 0x7ff) ^ 0x7ff]++] = a[i];
    memcpy(a, tmp, sizeof *a * n);
  }
}

/* ---- walking the families ---- */

/* by_subject: a copy of the awards ordered by member (or by team): a
 * counting sort, so that each walk reads them in order. */
static award *by_subject(const tally *t, int teams) {
  uint32_t *count = calloc((size_t)t->s.n + 1, sizeof *count);
  award *out = malloc(sizeof *out * (t->n ? t->n : 1));
  if (!count || !out) abort();
  for (size_t i = 0; i < t->n; i++) count[(teams ? t->a[i].team : t->a[i].who) + 1]++;
  for (uint32_t i = 1; i <= t->s.n; i++) count[i] += count[i - 1];
  for (size_t i = 0; i < t->n; i++) out[count[teams ? t->a[i].team : t->a[i].who]++] = t->a[i];
  free(count);
  return out;
}

/* Periods by day: the awards of one day share them; a small cache of days. */
typedef struct period_memo {
  int64_t day[1024], code[1024];
} period_memo;

static int64_t period_of(period_memo *m, int window, int64_t ms) {
  int64_t day = floor_div(ms / 1000, 86400);
  size_t k = (size_t)day & 1023;
  if (m->day[k] != day) m->day[k] = day, m->code[k] = tally_period_code(window, ms);
  return m->code[k];
}

typedef struct emit_state {
  tally *t;
  const char *prefix;
  int window;
  scored *sc, *tmp;
  board_entry *out;
  size_t cap;
  int (*fn)(void *arg, const tally_board *b);
  void *arg;
} emit_state;

static int emit_board(emit_state *st, const fboard *b, int subject, int scope) {
  if (b->n > st->cap) {
    st->cap = b->n;
    st->sc = xrealloc(st->sc, sizeof *st->sc * st->cap);
    st->tmp = xrealloc(st->tmp, sizeof *st->tmp * st->cap);
    st->out = xrealloc(st->out, sizeof *st->out * st->cap);
  }
  size_t n = 0;
  int64_t last = 0;
  for (size_t i = 0; i < b->n; i++) {
    if (b->e[i].points <= 0) continue;   /* as the live script drops an entry at 0 */
    st->sc[n++] = (scored){score_key(boards_score(b->e[i].points, b->e[i].last / 1000)), b->e[i].who};
    if (b->e[i].last > last) last = b->e[i].last;
  }
  if (!n) return 0;   /* only retracted awards (or none with points): no board */
  tally_board tb;
  char period[32];
  boards_period(st->window, b->first_ms, period, sizeof period);
  if (boards_key(tb.key, sizeof tb.key, st->prefix, subject, st->window, period, scope, str_of(&st->t->s, b->scope)) != 0)
    return 0;   /* a key too long for any board: as boards_for_award, none */
  sort_desc(st->sc, st->tmp, n);
  for (size_t i = 0; i < n; i++) st->out[i] = (board_entry){str_of(&st->t->s, st->sc[i].who), key_score(st->sc[i].key)};
  tb.window = st->window;
  tb.last_ms = last;
  tb.n = n;
  tb.entries = st->out;
  return st->fn(st->arg, &tb);
}

int tally_boards(tally *t, const char *prefix, const int64_t *from_ms, int (*fn)(void *arg, const tally_board *b),
                 void *arg) {
  /* The board families an award counts toward, as in boards_for_award. */
  static const struct {
    int subject, scope;
  } spec[] = {{SUBJ_MEMBERS, SCOPE_ORG}, {SUBJ_MEMBERS, SCOPE_TEAM},     {SUBJ_MEMBERS, SCOPE_BADGE},
              {SUBJ_MEMBERS, SCOPE_CATEGORY}, {SUBJ_TEAMS, SCOPE_ORG}, {SUBJ_TEAMS, SCOPE_BADGE},
              {SUBJ_TEAMS, SCOPE_CATEGORY}};
  static const int windows[] = {WIN_WEEK, WIN_MONTH, WIN_QUARTER, WIN_YEAR, WIN_ALL, WIN_DAY};
  /* By member; the team walks read a second copy by team. */
  award *sorted = by_subject(t, 0);
  free(t->a);
  t->a = sorted;
  award *by_team = by_subject(t, 1);
  family f = {0};
  emit_state st = {.t = t, .prefix = prefix, .fn = fn, .arg = arg};
  period_memo *memo = malloc(sizeof *memo);
  if (!memo) abort();
  int rc = 0;
  for (size_t w = 0; w < sizeof windows / sizeof windows[0] && !rc; w++) {
    int window = windows[w];
    st.window = window;
    int64_t from = from_ms[window] == INT64_MIN ? INT64_MIN : tally_period_code(window, from_ms[window]);
    for (size_t i = 0; i < 1024; i++) memo->day[i] = INT64_MIN;
    for (size_t s = 0; s < sizeof spec / sizeof spec[0] && !rc; s++) {
      int teams = spec[s].subject == SUBJ_TEAMS;
      const award *all = teams ? by_team : t->a;
      for (size_t i = 0; i < t->n; i++) {
        const award *a = &all[i];
        int64_t code = period_of(memo, window, a->ms);
        if (code < from) continue;
        uint32_t who = teams ? a->team : a->who;
        uint32_t scope = spec[s].scope == SCOPE_TEAM    ? a->team
                         : spec[s].scope == SCOPE_BADGE ? a->badge
                         : spec[s].scope == SCOPE_CATEGORY ? a->category
                                                           : 0;
        /* No member (or team): not on the board; no team, badge or category: no scoped board. */
        if (!who || (spec[s].scope != SCOPE_ORG && !scope)) continue;
        fboard *b = family_board(&f, code, scope, a->ms);
        if (b->n && b->e[b->n - 1].who == who) {
          b->e[b->n - 1].points += a->points;
          if (a->ms > b->e[b->n - 1].last) b->e[b->n - 1].last = a->ms;
        } else {
          if (b->n == b->cap) {
            b->cap = b->cap ? b->cap * 2 : 4;
            b->e = xrealloc(b->e, sizeof *b->e * b->cap);
          }
          b->e[b->n++] = (entry){who, a->points, a->ms};
        }
      }
      for (uint32_t i = 0; i < f.n && !rc; i++) rc = emit_board(&st, &f.b[i], spec[s].subject, spec[s].scope);
      family_clear(&f);
    }
  }
  free(memo);
  free(by_team);
  free(f.b);
  free(f.slot);
  free(st.sc);
  free(st.tmp);
  free(st.out);
  return rc;
}

-- svc-nomination: members directory, nominations, reviews, endorsements, reflections.
CREATE TABLE org_settings (
  org                  text PRIMARY KEY,
  allowance_per_month  integer NOT NULL DEFAULT 5,
  pair_cap_per_quarter integer NOT NULL DEFAULT 3,
  blind_review         boolean NOT NULL DEFAULT false,
  overdue_days         integer NOT NULL DEFAULT 7
);

CREATE TABLE member (
  org           text NOT NULL,
  user_id       text NOT NULL,
  display_name  text NOT NULL DEFAULT '',
  email         text NOT NULL DEFAULT '',
  team          text NOT NULL DEFAULT '',
  manager_id    text NOT NULL DEFAULT '',
  remote        boolean NOT NULL DEFAULT false,
  active        boolean NOT NULL DEFAULT true,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (org, user_id)
);
CREATE INDEX member_team ON member (org, team, user_id);

CREATE TABLE nomination (
  id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  org             text NOT NULL,
  request_id      text NOT NULL,
  nominator_id    text NOT NULL,
  nominator_team  text NOT NULL DEFAULT '',
  badge_id        text NOT NULL,
  badge_name      text NOT NULL DEFAULT '',
  justification   text NOT NULL,
  evidence        text[] NOT NULL DEFAULT '{}',
  public          boolean NOT NULL DEFAULT true,
  nominee_key     text NOT NULL,             -- sorted nominee ids, for duplicates
  status          smallint NOT NULL DEFAULT 1,  -- 1 pending, 2 approved, 3 rejected, 4 withdrawn
  reviewer_id     text NOT NULL DEFAULT '',
  review_comment  text NOT NULL DEFAULT '',
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  decided_at      timestamptz,
  UNIQUE (org, nominator_id, request_id)
);
CREATE INDEX nomination_nominator ON nomination (org, nominator_id, created_at DESC);
CREATE INDEX nomination_open ON nomination (org, nominator_id, badge_id, nominee_key) WHERE status = 1;

CREATE TABLE nominee (
  nomination_id  uuid NOT NULL REFERENCES nomination (id),
  org            text NOT NULL,
  user_id        text NOT NULL,
  team           text NOT NULL DEFAULT '',
  PRIMARY KEY (nomination_id, user_id)
);
CREATE INDEX nominee_user ON nominee (org, user_id);

CREATE TABLE reviewer (
  nomination_id  uuid NOT NULL REFERENCES nomination (id),
  org            text NOT NULL,
  user_id        text NOT NULL,
  PRIMARY KEY (nomination_id, user_id)
);
CREATE INDEX reviewer_user ON reviewer (org, user_id);

CREATE TABLE endorsement (
  nomination_id  uuid NOT NULL REFERENCES nomination (id),
  org            text NOT NULL,
  user_id        text NOT NULL,
  comment        text NOT NULL DEFAULT '',
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (nomination_id, user_id)
);

CREATE TABLE reflection (
  nomination_id  uuid NOT NULL REFERENCES nomination (id),
  org            text NOT NULL,
  user_id        text NOT NULL,
  text           text NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (nomination_id, user_id)
);

-- The knowledge base: approved public justifications and reflections.
CREATE TABLE recognition_doc (
  nomination_id  uuid PRIMARY KEY REFERENCES nomination (id),
  org            text NOT NULL,
  body           text NOT NULL,
  doc            tsvector NOT NULL
);
CREATE INDEX recognition_doc_fts ON recognition_doc USING gin (doc);
CREATE INDEX recognition_doc_org ON recognition_doc (org);

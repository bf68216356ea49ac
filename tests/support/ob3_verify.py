#!/usr/bin/python3
"""ob3_verify.py - an offline verifier of Open Badges 3.0 VC-JWTs, written
against the specifications (RFC 7515/7517/7518, W3C VC data model 2.0,
1EdTech OB 3.0, W3C Bitstring Status List), not against Accolade's code.
Signatures are checked with python3-cryptography only.

  ob3_verify.py credential JWS_FILE JWKS_FILE [--email E] [--json JSON_FILE]
      verifies the signature by kid, then checks the document field by field
      against the OB 3.0 required properties; with --email, that the
      recipient's identityHash is sha256(email + salt) and that the email is
      nowhere in clear; with --json, that the payload is that document.
  ob3_verify.py status JWS_FILE JWKS_FILE INDEX
      verifies a BitstringStatusListCredential and prints the bit at INDEX.

Exit status 0 when everything holds, 1 with the reason on stderr otherwise.
Used by tests/integration/test_credential_api.c.
"""
import base64
import gzip
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


class Invalid(Exception):
    pass


def b64url(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def as_int(s):
    return int.from_bytes(b64url(s), "big")


def verify_jws(token, jwks):
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise Invalid("not a compact JWS")
    header = json.loads(b64url(parts[0]))
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ("RS256", "ES256"):
        raise Invalid("alg %r" % alg)
    keys = [k for k in jwks["keys"] if k.get("kid") == kid]
    if not keys:
        raise Invalid("no key with kid %r in the JWKS" % kid)
    jwk = keys[0]
    data = (parts[0] + "." + parts[1]).encode()
    sig = b64url(parts[2])
    try:
        if alg == "ES256":
            if jwk["kty"] != "EC" or jwk["crv"] != "P-256":
                raise Invalid("kid %r is not a P-256 key" % kid)
            if len(sig) != 64:
                raise Invalid("ES256 signature is %d bytes, not 64 (r || s)" % len(sig))
            pub = ec.EllipticCurvePublicNumbers(as_int(jwk["x"]), as_int(jwk["y"]), ec.SECP256R1()).public_key()
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            pub.verify(der, data, ec.ECDSA(hashes.SHA256()))
        else:
            if jwk["kty"] != "RSA":
                raise Invalid("kid %r is not an RSA key" % kid)
            pub = rsa.RSAPublicNumbers(as_int(jwk["e"]), as_int(jwk["n"])).public_key()
            pub.verify(sig, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise Invalid("bad signature")
    if header.get("typ") != "vc+jwt":
        raise Invalid("typ %r, want vc+jwt" % header.get("typ"))
    return header, b64url(parts[1])


def need(cond, what):
    if not cond:
        raise Invalid(what)


def types_of(o):
    t = o.get("type")
    return t if isinstance(t, list) else [t]


def check_credential(doc):
    need(doc.get("@context", [])[:2] == ["https://www.w3.org/ns/credentials/v2",
                                         "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"],
         "@context: %r" % doc.get("@context"))
    need(isinstance(doc.get("id"), str) and ":" in doc["id"], "id: a URI")
    need("VerifiableCredential" in types_of(doc) and "OpenBadgeCredential" in types_of(doc), "type: %r" % doc.get("type"))
    issuer = doc.get("issuer")
    need(isinstance(issuer, dict), "issuer: a Profile")
    need(str(issuer.get("id", "")).startswith("https://"), "issuer.id: an https URL")
    need("Profile" in types_of(issuer), "issuer.type: Profile")
    need(isinstance(issuer.get("name"), str) and issuer["name"], "issuer.name")
    need(isinstance(doc.get("validFrom"), str) and doc["validFrom"].endswith("Z") and "T" in doc["validFrom"],
         "validFrom: an ISO 8601 date-time")
    need(isinstance(doc.get("name"), str) and doc["name"], "name")
    subj = doc.get("credentialSubject")
    need(isinstance(subj, dict), "credentialSubject")
    need("AchievementSubject" in types_of(subj), "credentialSubject.type: AchievementSubject")
    ach = subj.get("achievement")
    need(isinstance(ach, dict), "credentialSubject.achievement")
    need(isinstance(ach.get("id"), str) and ach["id"].startswith("https://"), "achievement.id: a URL")
    need("Achievement" in types_of(ach), "achievement.type: Achievement")
    for f in ("name", "description"):
        need(isinstance(ach.get(f), str) and ach[f], "achievement.%s" % f)
    crit = ach.get("criteria")
    need(isinstance(crit, dict) and (crit.get("id") or crit.get("narrative")), "achievement.criteria: id or narrative")
    ids = subj.get("identifier")
    need(isinstance(ids, list) and ids, "credentialSubject.identifier (or id)")
    for i in ids:
        need(i.get("type") == "IdentityObject", "identifier.type: IdentityObject")
        need(i.get("hashed") is True and str(i.get("identityHash", "")).startswith("sha256$"),
             "identifier: a hashed sha256$ identityHash")
        need(isinstance(i.get("salt"), str) and i["salt"], "identifier.salt")
    st = doc.get("credentialStatus")
    need(isinstance(st, dict) and st.get("type") == "BitstringStatusListEntry" and
         st.get("statusPurpose") == "revocation" and str(st.get("statusListIndex", "")).isdigit() and
         st.get("statusListCredential"), "credentialStatus: a BitstringStatusListEntry for revocation")
    for e in doc.get("evidence", []):
        need("Evidence" in types_of(e), "evidence.type: Evidence")


def check_email(doc, raw, email):
    need(email.lower().encode() not in raw.lower(), "the email appears in clear")
    for i in doc["credentialSubject"]["identifier"]:
        want = "sha256$" + hashlib.sha256((email.strip().lower() + i["salt"]).encode()).hexdigest()
        need(i["identityHash"] == want, "identityHash is not sha256(email + salt)")


def main(argv):
    if len(argv) >= 4 and argv[1] == "credential":
        token, jwks = open(argv[2]).read(), json.load(open(argv[3]))
        header, raw = verify_jws(token, jwks)
        doc = json.loads(raw)
        check_credential(doc)
        rest = argv[4:]
        while rest:
            flag, val = rest[0], rest[1]
            rest = rest[2:]
            if flag == "--email":
                check_email(doc, raw, val)
            elif flag == "--json":
                need(open(val, "rb").read() == raw, "the payload is not the document served as credential_json")
        print("ok kid=%s alg=%s" % (header["kid"], header["alg"]))
        return 0
    if len(argv) == 5 and argv[1] == "status":
        token, jwks, index = open(argv[2]).read(), json.load(open(argv[3])), int(argv[4])
        _, raw = verify_jws(token, jwks)
        doc = json.loads(raw)
        need("BitstringStatusListCredential" in types_of(doc), "type: BitstringStatusListCredential")
        subj = doc["credentialSubject"]
        need(subj.get("type") == "BitstringStatusList" and subj.get("statusPurpose") == "revocation", "subject")
        enc = subj["encodedList"]
        need(enc.startswith("u"), "encodedList: multibase base64url ('u')")
        bits = gzip.decompress(b64url(enc[1:]))
        need(len(bits) * 8 >= 131072, "the list is shorter than 131072 bits")
        print((bits[index // 8] >> (7 - index % 8)) & 1)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Invalid as e:
        print("invalid: %s" % e, file=sys.stderr)
        sys.exit(1)

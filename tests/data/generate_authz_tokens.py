#!/usr/bin/env python3
"""Mints tests/data/authz_tokens.json: tokens for `when` conditions and issuer templates.

Tokens are minted by PyJWT, never by jwt-gate. Run from the repository root:
    .venv/bin/python tests/data/generate_authz_tokens.py
Keys are generated anew on every run. The key set is shaped like Microsoft Entra ID's common one:
each key names its issuer, a template (`{tenantid}`); one key is another issuer's, and one names
none. Each case keeps its claims beside the token.
"""

import json
import os

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

NOW = 1_700_000_000
ENTRA = "https://login.microsoftonline.com/{tenantid}/v2.0"
STS = "https://sts.windows.net/{tenantid}/"
TENANT_A = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TENANT_B = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"
PLAIN = "https://issuer.test"
AUDIENCE = "api://orders"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


signing = {"entra": rsa_key(), "sts": rsa_key(), "plain": rsa_key()}


def public(kid, issuer=None):
    entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing[kid].public_key()))
    entry.update({"kid": kid, "use": "sig"})
    if issuer is not None:
        entry["issuer"] = issuer
    return entry


keys = {"keys": [public("entra", ENTRA), public("sts", STS), public("plain")]}


def entra(tenant, **claims):
    base = {
        "iss": f"https://login.microsoftonline.com/{tenant}/v2.0",
        "tid": tenant,
        "aud": AUDIENCE,
        "azp": "web-client",
        "sub": "alice",
        "iat": NOW,
        "exp": NOW + 3600,
    }
    base.update(claims)
    return {k: v for k, v in base.items() if v is not None}


cases = []


def case(name, payload, kid="entra"):
    token = jwt.encode(payload, signing[kid], algorithm="RS256", headers={"kid": kid})
    cases.append({"name": name, "claims": payload, "kid": kid, "token": token})


case(
    "alice of tenant A",
    entra(
        TENANT_A,
        groups=["admins", "dev"],
        scp="orders.read orders.write",
        level=3,
        **{
            "https://example.com/org": {"tier": "gold"},
            "realm_access.roles": ["literal"],
            "realm_access": {"roles": ["nested"]},
        },
    ),
)
case(
    "bob of tenant B",
    entra(
        TENANT_B, sub="bob", groups=["ops-east"], **{"https://example.com/org": {"tier": "free"}}
    ),
)
case("carol of tenant A, no groups", entra(TENANT_A, sub="carol"))
case("tid of another tenant", entra(TENANT_A, tid=TENANT_B, groups=["admins"]))
case("no tid", entra(TENANT_A, tid=None, groups=["admins"]))
case("tid is a number", entra("7", tid=7, groups=["admins"]))
case(
    "iss with an extra segment",
    entra(TENANT_A, iss=f"https://login.microsoftonline.com/{TENANT_A}/x/v2.0", groups=["admins"]),
)
case("iss with an empty segment", entra("", groups=["admins"]))
case("signed by the key of another issuer", entra(TENANT_A, groups=["admins"]), kid="sts")
case(
    "plain issuer",
    {"iss": PLAIN, "sub": "dave", "aud": AUDIENCE, "groups": ["admins"], "exp": NOW + 3600},
    kid="plain",
)
case(
    "entra issuer signed by a key that names none",
    entra(TENANT_A, groups=["admins"]),
    kid="plain",
)

document = {
    "generator": f"tests/data/generate_authz_tokens.py (PyJWT {jwt.__version__})",
    "now": NOW,
    "tenants": [TENANT_A, TENANT_B],
    "keys": json.dumps(keys),
    "cases": cases,
}
with open(os.path.join(os.path.dirname(__file__), "authz_tokens.json"), "w") as out:
    json.dump(document, out, indent=1)
    out.write("\n")
print(f"wrote {len(cases)} cases")

"""A local identity provider (OAuth2 authorization server) for the OAuth sign-in tests.

The double is an aiohttp server on 127.0.0.1 (a free port) running on its own thread and
event loop, so the session-scoped, synchronous Dovecot fixture can point its token
introspection at it and async tests on any loop can reach it. Test controls are plain,
thread-safe methods.

Endpoints (all form-encoded, answers JSON as RFC 6749 shapes them):

- ``POST /device/code`` (RFC 8628): ``device_code``, ``user_code``, ``verification_uri``,
  ``verification_uri_complete``, ``expires_in``, ``interval``. ``idp.approve(user_code,
  user)`` / ``idp.deny(user_code)`` play the person; ``idp.last_user_code()``.
- ``GET /authorize`` (code + PKCE S256): answers 302 to ``redirect_uri?code=..&state=..``
  as the user of ``idp.sign_in_as(user)``, or ``error=access_denied`` after
  ``idp.deny_next_authorize()``.
- ``POST /token``: the device_code, authorization_code and refresh_token grants, with
  refresh-token rotation; errors ``authorization_pending``, ``slow_down``,
  ``access_denied``, ``expired_token``, ``invalid_grant``, ``invalid_client``...
- ``POST /introspect`` (``token=``, as Dovecot's oauth2 passdb sends it):
  ``{"active": true, "username": "..."}`` or ``{"active": false}``.

Typical use::

    def test_login(dovecot, idp, mail_user):
        tokens = idp.issue_tokens(mail_user)          # or run a flow against the endpoints
        with imapclient.IMAPClient(dovecot.host, port=dovecot.imap_port) as client:
            client.oauth2_login(mail_user.name, tokens["access_token"])
        idp.revoke(mail_user)                         # the next login with it fails

Layout: ``wire`` (paths, JSON and OAuth errors, client credentials, PKCE), ``records``
(recorded requests, grants, codes, tokens), ``device`` (RFC 8628), ``authorize`` (code +
PKCE), ``tokens`` (/token, refresh, revocation, /introspect), ``inspection`` (queries and
waits), ``server`` (`IdentityProvider`: settings, reset, thread and loop) and ``fixtures``.
"""

from .fixtures import _idp_reset, idp
from .records import AuthorizationCode, DeviceGrant, RecordedRequest, Token
from .server import DEFAULTS, IdentityProvider
from .wire import DEVICE_GRANT, OAuthError, s256

__all__ = [
    "DEFAULTS",
    "DEVICE_GRANT",
    "AuthorizationCode",
    "DeviceGrant",
    "IdentityProvider",
    "OAuthError",
    "RecordedRequest",
    "Token",
    "_idp_reset",
    "idp",
    "s256",
]

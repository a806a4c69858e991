"""mail/oauth.py without a network: providers from presets and the TOML file, the
endpoint rule, host lookup, token bookkeeping and the SASL initial responses."""

import base64

import pytest

from mail import oauth, oauth_providers


def test_presets_follow_their_settings():
    """Microsoft needs its client id (tenant defaults to common); Google needs id and secret."""
    assert oauth_providers.load_providers({}) == {}
    providers = oauth_providers.load_providers(
        {
            "MAILSYNC_OAUTH_MICROSOFT_CLIENT_ID": "ms-id",
            "MAILSYNC_OAUTH_GOOGLE_CLIENT_ID": "g-id",
            "MAILSYNC_OAUTH_GOOGLE_CLIENT_SECRET": "g-secret",
        }
    )
    microsoft, google = providers["microsoft"], providers["google"]
    assert microsoft.flow == "device"
    assert "/common/oauth2/v2.0/devicecode" in microsoft.device_authorization_endpoint
    assert "offline_access" in microsoft.scopes
    assert oauth_providers.provider_for(providers, "Outlook.Office365.com") is microsoft
    assert google.flow == "redirect" and google.scopes == ("https://mail.google.com/",)
    assert oauth_providers.provider_for(providers, "pop.gmail.com") is google
    tenant = oauth_providers.load_providers(
        {"MAILSYNC_OAUTH_MICROSOFT_CLIENT_ID": "x", "MAILSYNC_OAUTH_MICROSOFT_TENANT": "contoso"}
    )
    assert "/contoso/" in tenant["microsoft"].token_endpoint
    with pytest.raises(oauth_providers.OAuthConfigError, match="SECRET"):
        oauth_providers.load_providers({"MAILSYNC_OAUTH_GOOGLE_CLIENT_ID": "g-id"})


def _file(tmp_path, text):
    path = tmp_path / "providers.toml"
    path.write_text(text)
    return {"MAILSYNC_OAUTH_PROVIDERS_FILE": str(path)}


def test_provider_file_is_read_and_checked(tmp_path):
    """A provider table works as written; https is required off loopback."""
    env = _file(
        tmp_path,
        """
[providers.corp]
hosts = ["imap.corp.example", "pop.corp.example"]
flow = "device"
device_authorization_endpoint = "https://id.corp.example/device"
token_endpoint = "https://id.corp.example/token"
client_id = "abc"
scopes = ["imap", "offline_access"]

[providers.lab]
hosts = ["mail.lab"]
flow = "redirect"
authorization_endpoint = "http://127.0.0.1:9/authorize"
token_endpoint = "http://[::1]:9/token"
client_id = "lab"
""",
    )
    providers = oauth_providers.load_providers(env)
    assert providers["corp"].scopes == ("imap", "offline_access")
    assert oauth_providers.provider_for(providers, "mail.lab").flow == "redirect"


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        (
            'hosts = ["h"]\ntoken_endpoint = "https://t"\ndevice_authorization_endpoint = '
            '"https://d"',
            "client_id",
        ),
        (
            'hosts = ["h"]\nclient_id = "c"\ntoken_endpoint = "http://id.example/token"\n'
            'device_authorization_endpoint = "https://d"',
            "https",
        ),
        (
            'client_id = "c"\ntoken_endpoint = "https://t"\ndevice_authorization_endpoint = '
            '"https://d"',
            "hosts",
        ),
        ('hosts = ["h"]\nclient_id = "c"\nflow = "magic"\ntoken_endpoint = "https://t"', "flow"),
    ],
)
def test_bad_provider_files_are_refused_with_the_reason(tmp_path, table, problem):
    """A provider missing its client id, a plain-http endpoint off loopback, no hosts, an
    unknown flow: each refused at start, naming the problem."""
    env = _file(tmp_path, f"[providers.bad]\n{table}\n")
    with pytest.raises(oauth_providers.OAuthConfigError, match=problem):
        oauth_providers.load_providers(env)


def test_host_no_provider_claims_names_the_configured_ones():
    """The error lists the providers there are, so the admin knows what the bot can do."""
    providers = oauth_providers.load_providers({"MAILSYNC_OAUTH_MICROSOFT_CLIENT_ID": "x"})
    with pytest.raises(oauth.OAuthError, match="`microsoft`"):
        oauth_providers.provider_for(providers, "imap.example.com")


def test_tokens_round_trip_and_fall_due_before_expiry():
    """Stored as JSON; due a few minutes before they expire; a refresh without a new
    refresh token keeps the old one; reprs never show a token."""
    tokens = oauth.Tokens.from_response(
        {"access_token": "A1", "refresh_token": "R1", "expires_in": 3600}
    )
    assert oauth.Tokens.from_json(tokens.to_json()) == tokens
    assert not tokens.due()
    assert tokens.due(now=tokens.expires_at - 60)
    refreshed = oauth.Tokens.from_response({"access_token": "A2", "expires_in": 60}, tokens)
    assert refreshed.refresh_token == "R1"
    assert "A1" not in repr(tokens) and "R1" not in repr(tokens)


def test_sasl_initial_responses():
    """XOAUTH2 and OAUTHBEARER (RFC 7628, with the gs2 header and escaped authzid)."""
    assert oauth.xoauth2("u@x", "T") == b"user=u@x\x01auth=Bearer T\x01\x01"
    bearer = oauth.oauthbearer("a,b=c", "imap.x", 993, "T")
    assert bearer == b"n,a=a=2Cb=3Dc,\x01host=imap.x\x01port=993\x01auth=Bearer T\x01\x01"
    assert base64.b64decode(base64.b64encode(bearer)) == bearer

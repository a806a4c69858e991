"""End to end, /mail edit privacy: what a real alert shows at each level."""

import json

from tests.plugins.dovecot import make_message


async def _ask(harness, name, options):
    return await harness.reply_text(await harness.command(name, options))


def _post_text(post):
    return json.dumps(post["embeds"][0], ensure_ascii=False).replace("\\\\", "")


async def test_privacy_levels_shape_the_posted_alerts(harness, dovecot, mail_user):
    """minimal hides sender, subject and text; full shows the whole text; snippet returns
    to today's alert. The reply says what alerts will show."""
    async with harness.running():
        await harness.add_account(mail_user, name="p", folders="Sent")
        said = await _ask(harness, "mail edit", {"account": "p", "privacy": "minimal"})
        assert "only the folder and the date" in said
        body = "Top secret body. " + "More words here. " * 30 + "THE END"
        dovecot.append(
            mail_user,
            make_message(subject="Salary review", body=body, sender="boss@corp.example"),
            folder="Sent",
        )
        await _ask(harness, "mail check", {"account": "p"})
        minimal = _post_text((await harness.posts(1))[0])
        assert "New mail in Sent" in minimal
        for secret in ("Salary", "boss", "Top secret"):
            assert secret not in minimal
        await _ask(harness, "mail edit", {"account": "p", "privacy": "full"})
        dovecot.append(mail_user, make_message(subject="Full one", body=body), folder="Sent")
        await _ask(harness, "mail check", {"account": "p"})
        full = _post_text((await harness.posts(2))[1])
        assert "Full one" in full and "THE END" in full

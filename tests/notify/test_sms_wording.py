"""No page says a text message reaches a phone: the only SMS provider, `log`, sends none.

The outbox records every text message and the `log` provider writes it to a file; nothing
leaves for a phone. Pages that used to say "the code was sent to your mobile" left guardians
and applicants waiting for a message that never came. Until a provider that sends is added
(and this test with it), a message that mentions text messages says they are not sent yet,
or does not say one is sent at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from portal.notify import jobs

ROOT = Path(__file__).resolve().parents[2]
PO = ROOT / "portal/translations/zh_Hans_CN/LC_MESSAGES/messages.po"

# Messages that mention text messages without saying one is sent: a preference, an error.
NO_CLAIM = {
    "Also send me messages by text message (SMS)",
    "Your account has no mobile number for SMS.",
}


def _messages() -> list[tuple[str, str]]:
    with PO.open("rb") as handle:
        catalogue = read_po(handle)
    found = []
    for message in catalogue:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        texts = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(ids[0], text) for text in texts] + [(i, "") for i in ids[1:]]
    return found


def test_log_is_the_only_sms_provider(app, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_SMS_PROVIDER", "aliyun")
    with pytest.raises(ValueError, match="unknown SMS provider"):
        jobs.senders_from_config(app)


def test_no_message_says_a_text_message_reaches_a_phone():
    claims = [
        (msgid, text)
        for msgid, text in _messages()
        if ("text message" in msgid.lower() or "短信" in text)
        and msgid not in NO_CLAIM
        and not ("not sent to phones yet" in msgid and (not text or "尚未开通" in text))
    ]
    assert claims == []


def test_the_parents_school_tells_guardians_to_keep_the_code(client):
    text = client.get("/parents-school/").get_data(as_text=True)
    assert "请记下来或拍照保存（短信发送功能尚未开通，手机收不到）" in text
    english = client.get("/parents-school/", headers={"Accept-Language": "en"})
    assert "as text messages are not sent to phones yet" in english.get_data(as_text=True)

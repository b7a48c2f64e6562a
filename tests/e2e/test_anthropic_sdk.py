"""Anthropic's official SDK through Paravent, with a virtual key."""

import json

import anthropic
import pytest

from conftest import EMAIL, NAME, PHONE, PROMPT, VIRTUAL_KEY, assert_no_leak


def client(proxy, key=VIRTUAL_KEY):
    return anthropic.Anthropic(base_url=proxy["url"] + "/anthropic", api_key=key,
                               max_retries=0)


def test_messages_round_trip_with_virtual_key(proxy, mock):
    r = client(proxy).messages.create(
        model="claude-test", max_tokens=100, system="Tu es un assistant.",
        messages=[{"role": "user", "content": PROMPT}])
    text = r.content[0].text
    for v in (NAME, EMAIL, PHONE):
        assert v in text
    assert "[PERSON_" not in text
    assert_no_leak(mock)
    headers = mock.requests[-1][2]
    assert headers.get("x-api-key") == "sk-ant-real-key-for-e2e"
    assert headers.get("anthropic-version")


def test_tool_use_both_ways(proxy, mock):
    tools = [{"name": "send_mail", "description": "Envoie un e-mail",
              "input_schema": {"type": "object",
                               "properties": {"text": {"type": "string"}}}}]
    c = client(proxy)
    r = c.messages.create(model="claude-test", max_tokens=100, tools=tools,
                          messages=[{"role": "user", "content": f"Écris à {NAME}, {EMAIL}"}])
    use = [b for b in r.content if b.type == "tool_use"][0]
    assert NAME in use.input["text"] and EMAIL in use.input["text"]
    r2 = c.messages.create(
        model="claude-test", max_tokens=100, tools=tools,
        messages=[{"role": "user", "content": f"Écris à {NAME}, {EMAIL}"},
                  {"role": "assistant", "content": [b.model_dump() for b in r.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                "content": f"Envoyé à {EMAIL}"}]}])
    assert r2.content[0].text
    assert_no_leak(mock, [NAME, EMAIL, "Dupont"])


def test_unknown_virtual_key_gets_401_in_anthropic_format(proxy, mock):
    with pytest.raises(anthropic.AuthenticationError) as e:
        client(proxy, "pv-not-issued").messages.create(
            model="claude-test", max_tokens=10, messages=[{"role": "user", "content": "Salut"}])
    assert "virtual key" in str(e.value)
    assert "pv-not-issued" not in str(e.value)
    assert mock.requests == []


def test_messages_stream_is_reidentified(proxy, mock):
    """The mock streams one character per event: every token is split across events."""
    with client(proxy).messages.stream(
            model="claude-test", max_tokens=100,
            messages=[{"role": "user", "content": PROMPT}]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    for v in (NAME, EMAIL, PHONE):
        assert v in text
    assert "[PERSON_" not in text
    assert final.content[0].text == text
    assert_no_leak(mock)


def test_messages_stream_true_with_tool_input(proxy, mock):
    tools = [{"name": "send_mail", "description": "Envoie un e-mail",
              "input_schema": {"type": "object",
                               "properties": {"text": {"type": "string"}}}}]
    events = client(proxy).messages.create(
        model="claude-test", max_tokens=100, stream=True, tools=tools,
        messages=[{"role": "user", "content": PROMPT}])
    text, partial = "", ""
    for e in events:
        if e.type == "content_block_delta" and e.delta.type == "text_delta":
            text += e.delta.text
        if e.type == "content_block_delta" and e.delta.type == "input_json_delta":
            partial += e.delta.partial_json
    assert NAME in text and EMAIL in text
    assert NAME in json.loads(partial)["text"]
    assert_no_leak(mock)

"""OpenAI's official SDK through Paravent: chat (tools, multi-turn), Responses,
embeddings, legacy completions, and a refusal."""

import json
import re

import openai
import pytest

from conftest import EMAIL, IBAN, NAME, PHONE, PROMPT, assert_no_leak

TOKEN = re.compile(r"\[PERSON_[0-9A-F]{6,}\]")


def client(proxy, prefix="/openai/v1"):
    return openai.OpenAI(base_url=proxy["url"] + prefix, api_key="sk-test-client",
                         max_retries=0)


def test_chat_round_trip_without_leaks(proxy, mock):
    r = client(proxy).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "system", "content": "Tu es un assistant."},
                  {"role": "user", "content": PROMPT}])
    assert_no_leak(mock)
    sent = mock.bodies()[-1]
    assert TOKEN.search(sent), sent
    answer = r.choices[0].message.content
    for v in (NAME, EMAIL, PHONE, IBAN):
        assert v in answer
    assert "[PERSON_" not in answer
    # The client's key went on (pass-through).
    assert mock.requests[-1][2].get("authorization") == "Bearer sk-test-client"


def test_default_provider_route(proxy, mock):
    r = client(proxy, "/v1").chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": PROMPT}])
    assert NAME in r.choices[0].message.content
    assert_no_leak(mock)


def test_chat_tool_calls_both_ways(proxy, mock):
    tools = [{"type": "function", "function": {
        "name": "send_mail", "description": "Envoie un e-mail",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}]
    r = client(proxy).chat.completions.create(
        model="gpt-test", tools=tools,
        messages=[{"role": "user", "content": f"Écris à {NAME} ({EMAIL})"}])
    call = r.choices[0].message.tool_calls[0]
    args = json.loads(call.function.arguments)
    assert NAME in args["text"] and EMAIL in args["text"]
    # Second turn: the tool call and its result go back in the history.
    r2 = client(proxy).chat.completions.create(
        model="gpt-test", tools=tools,
        messages=[{"role": "user", "content": f"Écris à {NAME} ({EMAIL})"},
                  {"role": "assistant", "tool_calls": [call.model_dump()]},
                  {"role": "tool", "tool_call_id": call.id,
                   "content": f"Message envoyé à {EMAIL}"}])
    assert r2.choices[0].message.tool_calls
    assert_no_leak(mock, [NAME, EMAIL, "Dupont"])
    sent = mock.last_json()
    sent_args = json.loads(sent["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert sent_args["text"].count("[EMAIL_") == 1


def test_multi_turn_same_token_in_turn_one_and_three(proxy, mock):
    c = client(proxy)
    history = [{"role": "user", "content": f"Je m'appelle {NAME}."}]
    r1 = c.chat.completions.create(model="gpt-test", messages=history)
    t1 = TOKEN.search(mock.bodies()[-1]).group(0)
    history.append({"role": "assistant", "content": r1.choices[0].message.content})
    history.append({"role": "user", "content": "Et mon collègue ?"})
    r2 = c.chat.completions.create(model="gpt-test", messages=history)
    history.append({"role": "assistant", "content": r2.choices[0].message.content})
    history.append({"role": "user", "content": f"Écris à {NAME} stp."})
    c.chat.completions.create(model="gpt-test", messages=history)
    turn3 = mock.last_json()
    contents = json.dumps(turn3["messages"], ensure_ascii=False)
    assert set(TOKEN.findall(contents)) == {t1}, contents
    assert contents.count(t1) >= 3
    assert_no_leak(mock, [NAME])


def test_responses_api(proxy, mock):
    c = client(proxy)
    r = c.responses.create(
        model="gpt-test", instructions="Sois bref.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": PROMPT}]}],
        tools=[{"type": "function", "name": "send_mail", "parameters": {"type": "object"},
                "strict": False}])
    assert NAME in r.output_text and EMAIL in r.output_text
    calls = [o for o in r.output if o.type == "function_call"]
    assert NAME not in PROMPT or IBAN in json.loads(calls[0].arguments)["text"]
    r2 = c.responses.create(model="gpt-test", input=f"Résume le dossier de {NAME}")
    assert NAME in r2.output_text
    assert_no_leak(mock)


def test_embeddings(proxy, mock):
    r = client(proxy).embeddings.create(model="emb-test", input=[PROMPT, f"Contact {EMAIL}"])
    assert len(r.data) == 2
    assert_no_leak(mock)


def test_legacy_completions(proxy, mock):
    r = client(proxy).completions.create(model="gpt-test", prompt=PROMPT)
    assert NAME in r.choices[0].text
    assert_no_leak(mock)


def test_secret_is_refused_with_a_clear_error(proxy, mock):
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(proxy).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user",
                       "content": "ma clé sk-proj-abcdefghijklmnopqrstuvwxyz0123456789ABCD"}])
    msg = str(e.value)
    assert "secret" in msg and "openai-key" in msg
    assert "sk-proj" not in msg
    assert mock.requests == []


def test_policy_block_is_a_permission_error_naming_the_rule(proxy, mock):
    ssn = "536-90-4399"  # synthetic: a rule file example, no real person
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(proxy).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": f"{NAME}, SSN {ssn}"}])
    msg = str(e.value)
    assert "e2e-no-ssn" in msg and "US_SSN" in msg and "ask the DPO" in msg, msg
    assert e.value.body["code"] == "paravent_policy_block"
    assert ssn not in msg and NAME not in msg
    assert mock.requests == []


def test_policy_route_sends_to_the_local_model(proxy, mock):
    """A route rule: the request goes to the declared target with its model, without the
    client's key, still pseudonymised; the SDK gets the answer re-identified."""
    nino = "JG103759A"  # synthetic: a rule file example, no real person
    r = client(proxy).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "user", "content": f"{NAME}, NI number {nino}"}])
    assert len(mock.requests) == 1
    _method, path, headers, body = mock.requests[0]
    assert path == "/local/v1/chat/completions", path
    assert "authorization" not in headers, "the client's key followed the route"
    sent = json.loads(body)
    assert sent["model"] == "llama-local"
    assert nino not in body.decode() and NAME not in body.decode()
    answer = r.choices[0].message.content
    assert NAME in answer, answer


def test_image_is_refused(proxy, mock):
    with pytest.raises(openai.PermissionDeniedError) as e:
        client(proxy).chat.completions.create(
            model="gpt-test",
            messages=[{"role": "user", "content": [
                {"type": "text", "text": "Décris"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}])
    assert "cannot be scanned" in str(e.value)
    assert mock.requests == []


def test_chat_stream_is_reidentified(proxy, mock):
    """The mock streams one character per event: every token is split across events."""
    stream = client(proxy).chat.completions.create(
        model="gpt-test", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": PROMPT}])
    text = ""
    usage = None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
    for v in (NAME, EMAIL, PHONE, IBAN):
        assert v in text
    assert "[PERSON_" not in text
    assert usage is not None and usage.total_tokens == 2
    assert_no_leak(mock)


def test_chat_stream_tool_call_is_reidentified(proxy, mock):
    tools = [{"type": "function", "function": {
        "name": "send_mail", "description": "Envoie un e-mail",
        "parameters": {"type": "object", "properties": {"text": {"type": "string"}}}}}]
    with client(proxy).chat.completions.stream(
            model="gpt-test", tools=tools,
            messages=[{"role": "user", "content": PROMPT}]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    call = final.choices[0].message.tool_calls[0]
    assert call.function.name == "send_mail"
    args = json.loads(call.function.arguments)
    for v in (NAME, EMAIL, PHONE, IBAN):
        assert v in args["text"]
    assert_no_leak(mock)


def test_responses_stream_is_reidentified(proxy, mock):
    with client(proxy).responses.stream(model="gpt-test", input=PROMPT) as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    for v in (NAME, EMAIL, PHONE, IBAN):
        assert v in deltas
    assert final.output_text == deltas
    assert_no_leak(mock)

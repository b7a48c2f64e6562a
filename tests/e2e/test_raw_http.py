"""Gemini and Ollama through Paravent, over raw HTTP (urllib)."""

import json
import urllib.error
import urllib.request

from conftest import EMAIL, NAME, PROMPT, assert_no_leak


def post(url, body, headers=None):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_gemini_generate_content(proxy, mock):
    status, body = post(
        proxy["url"] + "/gemini/v1beta/models/gemini-test:generateContent?key=AIza-client",
        {"systemInstruction": {"parts": [{"text": "Assistant."}]},
         "tools": [{"functionDeclarations": [{"name": "send_mail", "description": "Envoie"}]}],
         "contents": [{"role": "user", "parts": [{"text": PROMPT}]},
                      {"role": "model", "parts": [{"functionCall": {
                          "name": "send_mail", "args": {"to": EMAIL}}}]},
                      {"role": "user", "parts": [{"functionResponse": {
                          "name": "send_mail", "response": {"sent_to": NAME}}}]}]})
    assert status == 200, body
    parts = body["candidates"][0]["content"]["parts"]
    assert NAME in parts[0]["text"] and EMAIL in parts[0]["text"]
    assert NAME in parts[1]["functionCall"]["args"]["text"]
    assert_no_leak(mock)
    assert mock.requests[-1][1].endswith("?key=AIza-client")


def test_ollama_chat_and_generate(proxy, mock):
    status, body = post(proxy["url"] + "/ollama/api/chat",
                        {"model": "llama-test", "stream": False,
                         "messages": [{"role": "user", "content": PROMPT}]})
    assert status == 200, body
    assert NAME in body["message"]["content"]
    status, body = post(proxy["url"] + "/ollama/api/generate",
                        {"model": "llama-test", "stream": False, "prompt": PROMPT})
    assert status == 200, body
    assert EMAIL in body["response"]
    assert_no_leak(mock)


def test_unknown_endpoint_with_body_is_refused(proxy, mock):
    status, body = post(proxy["url"] + "/openai/v1/audio/speech", {"input": PROMPT})
    assert status == 404
    assert body["error"]["code"] == "paravent_unknown_endpoint"
    assert mock.requests == []


def test_secret_file_was_generated_owner_only(proxy):
    import stat
    mode = proxy["secret_file"].stat().st_mode
    assert stat.S_IMODE(mode) == 0o600
    assert any("generated" in line for line in proxy["log"])


def stream_lines(url, body, headers=None):
    """The response body's lines, read as they come."""
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json",
                                          **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.headers.get("content-length") is None
        return [line.decode().rstrip("\n") for line in r]


def test_gemini_sse_stream_is_reidentified(proxy, mock):
    lines = stream_lines(
        proxy["url"] + "/gemini/v1beta/models/gemini-test:streamGenerateContent?alt=sse",
        {"contents": [{"role": "user", "parts": [{"text": PROMPT}]}]},
        {"x-goog-api-key": "AIza-client"})
    text = ""
    for line in lines:
        if line.startswith("data: "):
            chunk = json.loads(line[6:])
            for part in chunk["candidates"][0]["content"]["parts"]:
                text += part.get("text", "")
    assert NAME in text and EMAIL in text
    assert "[PERSON_" not in text
    assert_no_leak(mock)


def test_ollama_ndjson_streams_are_reidentified(proxy, mock):
    for path, body, get in [
        ("/ollama/api/chat", {"model": "llama", "messages": [{"role": "user", "content": PROMPT}],
                              "stream": True}, lambda v: v["message"]["content"]),
        ("/ollama/api/generate", {"model": "llama", "prompt": PROMPT, "stream": True},
         lambda v: v["response"]),
    ]:
        lines = [json.loads(line) for line in stream_lines(proxy["url"] + path, body) if line]
        text = "".join(get(v) for v in lines)
        assert NAME in text and EMAIL in text, path
        assert "[PERSON_" not in text
        assert lines[-1]["done"] is True
    assert_no_leak(mock)

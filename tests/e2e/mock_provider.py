"""A mock AI provider for the end-to-end tests: records every request and answers like
each API (OpenAI chat/completions/embeddings/responses, Anthropic messages, Gemini
generateContent, Ollama chat/generate), echoing back the text it received so that
re-identification is exercised, tool calls included. Synthetic data only; binds
127.0.0.1 on an ephemeral port.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SKIP_KEYS = {"model", "role", "type", "id"}


def texts(value, key=""):
    """Every string value of a request, except model names, roles, types and ids."""
    out = []
    if isinstance(value, str):
        if key not in SKIP_KEYS:
            out.append(value)
    elif isinstance(value, list):
        for item in value:
            out.extend(texts(item, key))
    elif isinstance(value, dict):
        for k, item in value.items():
            out.extend(texts(item, k))
    return out


def has_tools(req):
    return isinstance(req, dict) and bool(req.get("tools"))


def reply(path, req):
    found = texts(req)
    echo = "Reçu: " + " | ".join(found)
    # What a tool call is "about": the last text of the conversation itself.
    convo = []
    if isinstance(req, dict):
        for key in ("messages", "input", "contents", "prompt"):
            convo.extend(texts(req.get(key)))
    about = convo[-1] if convo else ""
    if path.endswith("/chat/completions"):
        message = {"role": "assistant", "content": echo}
        if has_tools(req):
            message["content"] = None
            message["tool_calls"] = [{
                "id": "call_1", "type": "function",
                "function": {"name": "send_mail",
                             "arguments": json.dumps({"text": about})},
            }]
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
                "model": "mock",
                "choices": [{"index": 0, "message": message,
                             "finish_reason": "tool_calls" if has_tools(req) else "stop",
                             "logprobs": None}],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    if path.endswith("/completions"):
        return {"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "mock",
                "choices": [{"index": 0, "text": echo, "finish_reason": "stop",
                             "logprobs": None}]}
    if path.endswith("/embeddings"):
        inputs = req.get("input") if isinstance(req, dict) else None
        n = len(inputs) if isinstance(inputs, list) else 1
        return {"object": "list", "model": "mock",
                "data": [{"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]}
                         for i in range(n)],
                "usage": {"prompt_tokens": 1, "total_tokens": 1}}
    if path.endswith("/responses"):
        output = [{"type": "message", "id": "msg_1", "role": "assistant",
                   "status": "completed",
                   "content": [{"type": "output_text", "text": echo, "annotations": []}]}]
        if has_tools(req):
            output.append({"type": "function_call", "id": "fc_1", "call_id": "call_1",
                           "name": "send_mail", "arguments": json.dumps({"text": about}),
                           "status": "completed"})
        return {"id": "resp_1", "object": "response", "created_at": 1, "model": "mock",
                "status": "completed", "output": output, "parallel_tool_calls": True,
                "tool_choice": "auto", "tools": [],
                "usage": {"input_tokens": 1, "output_tokens": 1, "total_tokens": 2,
                          "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}
    if path.endswith("/messages"):
        content = [{"type": "text", "text": echo}]
        if has_tools(req):
            content.append({"type": "tool_use", "id": "toolu_1", "name": "send_mail",
                            "input": {"text": about}})
        return {"id": "msg_1", "type": "message", "role": "assistant", "model": "mock",
                "content": content,
                "stop_reason": "tool_use" if has_tools(req) else "end_turn",
                "stop_sequence": None, "usage": {"input_tokens": 1, "output_tokens": 1}}
    if ":generateContent" in path:
        parts = [{"text": echo}]
        if has_tools(req):
            parts.append({"functionCall": {"name": "send_mail", "args": {"text": about}}})
        return {"candidates": [{"content": {"role": "model", "parts": parts},
                                "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1,
                                  "totalTokenCount": 2}}
    if path.endswith("/api/chat"):
        message = {"role": "assistant", "content": echo}
        if has_tools(req):
            message["tool_calls"] = [{"function": {"name": "send_mail",
                                                   "arguments": {"text": about}}}]
        return {"model": "mock", "created_at": "2026-01-01T00:00:00Z", "message": message,
                "done": True, "done_reason": "stop"}
    if path.endswith("/api/generate"):
        return {"model": "mock", "created_at": "2026-01-01T00:00:00Z", "response": echo,
                "done": True, "done_reason": "stop"}
    return {"ok": True, "echo": echo}


class MockProvider:
    """Runs the mock in a thread; `requests` lists (method, path, headers, body bytes)."""

    def __init__(self):
        self.requests = []
        self.lock = threading.Lock()
        mock = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _handle(self):
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with mock.lock:
                    mock.requests.append((self.command, self.path,
                                          {k.lower(): v for k, v in self.headers.items()},
                                          body))
                try:
                    req = json.loads(body) if body else None
                except ValueError:
                    req = None
                out = json.dumps(reply(self.path.split("?")[0], req)).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = _handle
            do_GET = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self):
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def clear(self):
        with self.lock:
            self.requests.clear()

    def bodies(self):
        with self.lock:
            return [r[3].decode("utf-8", "replace") for r in self.requests]

    def last_json(self):
        with self.lock:
            return json.loads(self.requests[-1][3])

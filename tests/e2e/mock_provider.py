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


def sse(data, event=None):
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def stream_events(path, req, echo):
    """The API's stream for `path`, one character of text per event: (content type,
    list of event bytes). Every token the mock echoes thus arrives split across events."""
    convo = []
    for key in ("messages", "input", "contents", "prompt"):
        convo.extend(texts(req.get(key)))
    about = convo[-1] if convo else ""
    args = json.dumps({"text": about})
    ev = []
    if path.endswith("/chat/completions"):
        def chunk(choice):
            return sse({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                        "model": "mock", "choices": [choice]})
        ev.append(chunk({"index": 0, "delta": {"role": "assistant", "content": ""},
                         "finish_reason": None}))
        if has_tools(req):
            ev.append(chunk({"index": 0, "delta": {"tool_calls": [{
                "index": 0, "id": "call_1", "type": "function",
                "function": {"name": "send_mail", "arguments": ""}}]}, "finish_reason": None}))
            for c in args:
                ev.append(chunk({"index": 0, "delta": {"tool_calls": [{
                    "index": 0, "function": {"arguments": c}}]}, "finish_reason": None}))
            finish = "tool_calls"
        else:
            for c in echo:
                ev.append(chunk({"index": 0, "delta": {"content": c}, "finish_reason": None}))
            finish = "stop"
        ev.append(chunk({"index": 0, "delta": {}, "finish_reason": finish}))
        ev.append(sse({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                       "model": "mock", "choices": [],
                       "usage": {"prompt_tokens": 1, "completion_tokens": 1,
                                 "total_tokens": 2}}))
        ev.append(b"data: [DONE]\n\n")
        return "text/event-stream", ev
    if path.endswith("/messages"):
        ev.append(sse({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "mock",
            "content": [], "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": 1, "output_tokens": 1}}}, "message_start"))
        ev.append(sse({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "text", "text": ""}}, "content_block_start"))
        ev.append(sse({"type": "ping"}, "ping"))
        for c in echo:
            ev.append(sse({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "text_delta", "text": c}}, "content_block_delta"))
        ev.append(sse({"type": "content_block_stop", "index": 0}, "content_block_stop"))
        if has_tools(req):
            ev.append(sse({"type": "content_block_start", "index": 1, "content_block": {
                "type": "tool_use", "id": "toolu_1", "name": "send_mail", "input": {}}},
                "content_block_start"))
            for c in args:
                ev.append(sse({"type": "content_block_delta", "index": 1,
                               "delta": {"type": "input_json_delta", "partial_json": c}},
                              "content_block_delta"))
            ev.append(sse({"type": "content_block_stop", "index": 1}, "content_block_stop"))
        ev.append(sse({"type": "message_delta",
                       "delta": {"stop_reason": "tool_use" if has_tools(req) else "end_turn",
                                 "stop_sequence": None},
                       "usage": {"output_tokens": 1}}, "message_delta"))
        ev.append(sse({"type": "message_stop"}, "message_stop"))
        return "text/event-stream", ev
    if path.endswith("/responses"):
        seq = [0]

        def push(ty, v):
            v["type"] = ty
            v["sequence_number"] = seq[0]
            seq[0] += 1
            ev.append(sse(v, ty))

        def resp(status, output):
            return {"id": "resp_1", "object": "response", "created_at": 1, "model": "mock",
                    "status": status, "output": output, "parallel_tool_calls": True,
                    "tool_choice": "auto", "tools": []}
        part = {"type": "output_text", "text": echo, "annotations": []}
        msg = {"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
               "content": [part]}
        push("response.created", {"response": resp("in_progress", [])})
        push("response.output_item.added", {"output_index": 0, "item": {
            "type": "message", "id": "msg_1", "role": "assistant", "status": "in_progress",
            "content": []}})
        push("response.content_part.added", {"item_id": "msg_1", "output_index": 0,
                                             "content_index": 0, "part": {
                                                 "type": "output_text", "text": "",
                                                 "annotations": []}})
        for c in echo:
            push("response.output_text.delta", {"item_id": "msg_1", "output_index": 0,
                                                "content_index": 0, "delta": c,
                                                "logprobs": []})
        push("response.output_text.done", {"item_id": "msg_1", "output_index": 0,
                                           "content_index": 0, "text": echo, "logprobs": []})
        push("response.content_part.done", {"item_id": "msg_1", "output_index": 0,
                                            "content_index": 0, "part": part})
        push("response.output_item.done", {"output_index": 0, "item": msg})
        push("response.completed", {"response": resp("completed", [msg])})
        return "text/event-stream", ev
    if ":streamGenerateContent" in path:
        for i, c in enumerate(echo):
            cand = {"content": {"role": "model", "parts": [{"text": c}]}, "index": 0}
            if i == len(echo) - 1:
                cand["finishReason"] = "STOP"
            ev.append(sse({"candidates": [cand], "modelVersion": "mock"}))
        return "text/event-stream", ev
    chat = path.endswith("/api/chat")

    def line(text, done):
        v = {"model": "mock", "created_at": "2026-01-01T00:00:00Z", "done": done}
        if chat:
            v["message"] = {"role": "assistant", "content": text}
        else:
            v["response"] = text
        if done:
            v["done_reason"] = "stop"
        return (json.dumps(v) + "\n").encode()
    ev.extend(line(c, False) for c in echo)
    ev.append(line("", True))
    return "application/x-ndjson", ev


def streamed(path, req):
    if ":streamGenerateContent" in path:
        return True
    return isinstance(req, dict) and req.get("stream") is True and (
        path.endswith(("/chat/completions", "/responses", "/messages", "/api/chat",
                       "/api/generate")))


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
                path = self.path.split("?")[0]
                if streamed(path, req):
                    echo = "Reçu: " + " | ".join(texts(req))
                    ctype, events = stream_events(path, req, echo)
                    self.send_response(200)
                    self.send_header("content-type", ctype)
                    self.send_header("transfer-encoding", "chunked")
                    self.end_headers()
                    for e in events:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(e), e))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                out = json.dumps(reply(path, req)).encode()
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

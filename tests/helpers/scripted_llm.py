"""A scripted OpenAI-compatible chat server on 127.0.0.1, for injecting faults (not a model).

Each request takes the next behaviour from a queue (`valid` when the queue is empty):
valid: answers from the request's JSON Schema with a generator seeded by the request body, so the
same request gets the same answer; timeout; 429; 500; malformed; out_of_range; duplicate (every
config equal to the first); repeat_last (the previous answer again); prose; refusal.
Faults that repeat the key, as hosted APIs do: 401 and 403 (the body echoes the bearer key received);
500_echo (a 500 whose body holds the key); echo (a valid answer whose rationales, or text, hold it).
A request with a JSON Schema (the Creator's) takes its behaviour from `creator_behaviours` while that
queue has any, so a study's Creator calls can be scripted apart from its analyses.
`refuse_status` (401 or 403) refuses every request, the model list (GET /models) included: a wrong key.
"""

import hashlib
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def answer_from_schema(schema: dict, rng: np.random.Generator):
    if "enum" in schema:
        return schema["enum"][int(rng.integers(len(schema["enum"])))]
    kind = schema.get("type")
    if kind == "object":
        answer = {k: answer_from_schema(v, rng) for k, v in schema.get("properties", {}).items()}
        named = [k for k in answer if k != "rationale"]
        if "rationale" in answer and named:  # a rationale that speaks about the study (agents/quality.py)
            answer["rationale"] = f"scripted rationale: {named[0]} as the history suggests for this region"
        return answer
    if kind == "array":
        count = schema.get("minItems", 1)
        return [answer_from_schema(schema["items"], rng) for _ in range(count)]
    if kind == "integer":
        return int(rng.integers(schema.get("minimum", 0), schema.get("maximum", 100) + 1))
    if kind == "number":
        return float(rng.uniform(schema.get("minimum", 0.0), schema.get("maximum", 1.0)))
    if kind == "string":
        return "scripted rationale: the history suggests this region"
    return None


class ScriptedLLM:
    def __init__(self, delay_for_timeout: float = 5.0):
        self.behaviours: list[str] = []
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        self.delay_for_timeout = delay_for_timeout
        self.last_content = ""
        self.creator_behaviours: list[str] = []
        self.refuse_status: int | None = None
        self.model_list_requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def key(self) -> str:
                return self.headers.get("Authorization", "").removeprefix("Bearer ")

            def do_GET(self):
                outer.model_list_requests += 1
                if outer.refuse_status:
                    return self.error(outer.refuse_status, self.refused_message())
                if self.path.rstrip("/").endswith("/models"):
                    return self.send_json(200, {"object": "list", "data": [
                        {"id": "scripted", "object": "model", "created": 0, "owned_by": "tests"}]})
                self.error(404, "not found")

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request = json.loads(body)
                outer.requests.append(request)
                outer.headers.append({k.lower(): v for k, v in self.headers.items()})
                queue = outer.creator_behaviours if request.get("response_format") and outer.creator_behaviours \
                    else outer.behaviours
                behaviour = queue.pop(0) if queue else "valid"
                if outer.refuse_status:
                    behaviour = str(outer.refuse_status)
                if behaviour == "timeout":
                    time.sleep(outer.delay_for_timeout)
                    behaviour = "valid"
                if behaviour in ("401", "403"):
                    return self.error(int(behaviour), self.refused_message())
                if behaviour == "500_echo":
                    return self.error(500, f"internal error while serving the request of key {self.key()}")
                if behaviour in ("429", "500"):
                    return self.error(int(behaviour), f"scripted {behaviour}")
                content = outer.last_content if behaviour == "repeat_last" else outer.content(behaviour, request, body)
                if behaviour == "echo":
                    content = outer.echo(content, request, self.key())
                outer.last_content = content
                self.reply(content)

            def refused_message(self) -> str:
                # What hosted APIs say: the key received, repeated in full (some mask it, many do not).
                return f"Incorrect API key provided: {self.key()}. You can find your API key in your account."

            def error(self, status: int, message: str):
                self.send_json(status, {"error": {"message": message, "type": "invalid_request_error",
                                                  "code": "invalid_api_key" if status in (401, 403) else None}})

            def send_json(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def reply(self, content: str):
                payload = {
                    "id": "scripted", "object": "chat.completion", "created": 0, "model": "scripted",
                    "choices": [{"index": 0, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
                }
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                pass  # a client that gave up (a timeout test) closes its socket mid-reply: expected

        self.server = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def content(self, behaviour: str, request: dict, body: bytes) -> str:
        schema = (request.get("response_format") or {}).get("json_schema", {}).get("schema")
        rng = np.random.default_rng(int(hashlib.sha256(body).hexdigest()[:8], 16))
        if behaviour == "prose":
            return "I think a learning rate of about 0.05 and a depth of 6 would work well here."
        if behaviour == "refusal":
            return "I'm sorry, but I can't help with that."
        if behaviour == "malformed":
            return '{"configs": [{"rationale": "cut off", "max_depth": 4,'
        if schema is None:
            # Names the metric the prompt gives, so that the text passes the quality check (agents/quality.py).
            prompt = str((request.get("messages") or [{}])[-1].get("content", ""))
            found = re.search(r"Trial \d+: (\w+) =|Objective: \w+ (\w+)", prompt)
            metric = next((g for g in found.groups() if g), "") if found else "the metric"
            return f"The run converged on {metric}; lower the learning rate and add regularisation next."
        answer = answer_from_schema(schema, rng)
        if behaviour == "out_of_range":
            for config in answer["configs"]:
                for key, value in config.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        config[key] = value * 1000 + 1000
        if behaviour == "duplicate":
            answer["configs"] = [answer["configs"][0]] * len(answer["configs"])
        return json.dumps(answer)

    @staticmethod
    def echo(content: str, request: dict, key: str) -> str:
        """A valid answer that repeats the key: in every rationale of a Creator's answer, else in the text."""
        if not request.get("response_format"):
            return f"{content} (served for key {key})"
        answer = json.loads(content)
        for config in answer.get("configs", []):
            named = next((k for k in config if k != "rationale"), "it")  # speaks about the study (agents/quality.py)
            config["rationale"] = f"key {key} says so, for {named}"
        return json.dumps(answer)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

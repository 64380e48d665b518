import pytest
from conftest import quadratic_spec
from scripted_llm import ScriptedLLM

from agenthpo.errors import FieldError
from agenthpo.llm import LLMClient, LLMConfig, LLMError, parse_json
from agenthpo.spec import parse_spec


@pytest.fixture
def server():
    with ScriptedLLM(delay_for_timeout=3.0) as s:
        yield s


def client(server, **config) -> LLMClient:
    return LLMClient(LLMConfig(base_url=server.base_url, model="scripted", **config))


@pytest.mark.parametrize("faults", [["429"], ["500", "500"], ["429", "500"]])
def test_429_and_5xx_are_retried_with_backoff(server, faults):
    server.behaviours = list(faults)
    reply = client(server, max_retries=3).chat([{"role": "user", "content": "hi"}])
    assert reply.content and len(server.requests) == len(faults) + 1
    assert reply.usage.prompt_tokens == 100 and reply.usage.completion_tokens == 20


def test_failure_after_retries_is_an_llm_error_without_the_key(server, monkeypatch):
    monkeypatch.setenv("MY_LLM_KEY", "sk-secret-value-123")
    server.behaviours = ["500"] * 5
    c = client(server, max_retries=1, api_key_env="MY_LLM_KEY")
    with pytest.raises(LLMError) as info:
        c.chat([{"role": "user", "content": "hi"}])
    assert "sk-secret-value-123" not in str(info.value) and "500" in str(info.value)
    assert server.headers[0]["authorization"] == "Bearer sk-secret-value-123"  # sent only to the endpoint
    assert c.usage.calls == 1 and c.usage.seconds > 0


def test_timeout(server):
    server.behaviours = ["timeout"]
    with pytest.raises(LLMError, match="Timeout"):
        client(server, timeout=0.5, max_retries=0).chat([{"role": "user", "content": "hi"}])


def test_no_endpoint_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="no LLM endpoint"):
        LLMClient(LLMConfig())


def test_structured_output_request(server):
    schema = {"type": "object", "properties": {"x": {"enum": [1, 2]}}, "required": ["x"]}
    client(server).chat([{"role": "user", "content": "hi"}], schema=schema, seed=7)
    sent = server.requests[0]
    assert sent["response_format"]["json_schema"]["schema"] == schema and sent["seed"] == 7


@pytest.mark.parametrize("text, expected", [
    ('{"a": 1}', {"a": 1}),
    ('Sure! ```json\n{"a": 2}\n``` hope that helps', {"a": 2}),
    ('Here: {"a": 3} done', {"a": 3}),
])
def test_parse_json(text, expected):
    assert parse_json(text) == expected


def test_parse_json_rejects_prose():
    with pytest.raises(ValueError, match="not JSON"):
        parse_json("I would pick 0.05.")


def test_a_key_in_a_spec_is_refused_and_never_serialised(sqlite_uri):
    with pytest.raises(FieldError, match=r"llm.api_key: a key must not be written in a spec"):
        parse_spec(quadratic_spec(sqlite_uri, llm={"api_key": "sk-123"}), base_dir=None)
    spec = parse_spec(quadratic_spec(sqlite_uri, llm={"api_key_env": "TEAM_KEY", "model": "gpt-4o"}), base_dir=None)
    assert "sk-" not in str(spec.to_json()) and spec.to_json()["llm"]["api_key_env"] == "TEAM_KEY"
    with pytest.raises(FieldError, match=r"llm.temperature"):
        parse_spec(quadratic_spec(sqlite_uri, llm={"temperature": 5}), base_dir=None)


def test_portable_schema_mode_drops_what_hosted_strict_modes_refuse(server):
    schema = {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1, "maximum": 9},
                                               "why": {"type": "string", "maxLength": 50}}}
    client(server, structured_output="json_schema_portable").chat([{"role": "user", "content": "hi"}], schema=schema)
    sent = server.requests[0]["response_format"]["json_schema"]["schema"]
    assert sent == {"type": "object", "properties": {"n": {"type": "integer"}, "why": {"type": "string"}}}


@pytest.mark.parametrize("given, path, shown", [
    ({"temperature": 5}, "temperature", "5 outside [0, 2]"),
    ({"temperature": "hot"}, "temperature", "'hot' outside [0, 2]"),
    ({"timeout": 0}, "timeout", "0 must be a number > 0"),
    ({"max_tokens": 8}, "max_tokens", "8 must be an integer >= 16"),
    ({"structured_output": "json_shema"}, "structured_output", "(did you mean 'json_schema'?)"),
    ({"temprature": 0.2}, "temprature", "(did you mean 'temperature'?)"),
    ({"token": "sk-1"}, "token", "a key must not be written in a spec"),
    ({"prices": {"prompt_per_milion": 1}}, "prices.prompt_per_milion", "(did you mean 'prompt_per_million'?)"),
    ({"prices": {"prompt_per_million": "free"}}, "prices.prompt_per_million", "'free' must be a number"),
])
def test_llm_config_errors_are_relative_to_the_section_and_the_spec_adds_llm(sqlite_uri, given, path, shown):
    with pytest.raises(FieldError) as raised:
        LLMConfig.from_json(given)
    assert raised.value.path == path and shown in raised.value.message, str(raised.value)
    with pytest.raises(FieldError) as raised:
        parse_spec(quadratic_spec(sqlite_uri, llm=given), base_dir=None)
    assert raised.value.path == f"llm.{path}"

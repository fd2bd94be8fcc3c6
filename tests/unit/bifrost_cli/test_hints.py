"""Suggested commands: the target options given on the command line, quoted, never a secret."""

from __future__ import annotations

import shlex

from bifrost_cli.hints import Invocation


def test_the_target_options_are_repeated_quoted_and_without_secrets() -> None:
    run = Invocation.from_flags(
        {"base_url": "http://user:pw@gw.local:8080", "provider": "bedrock", "api_key": "vk-secret", "emulator": None,
         "allow_insecure_http": True, "region": "eu west 1", "max_retries": 5},
        profile="ci",
    )
    command = run.command("batches wait", "id with space")
    assert "vk-secret" not in command and "pw" not in command and "--max-retries" not in command
    assert shlex.split(command) == [
        "bifrost", "--profile", "ci", "--base-url", "http://user:***@gw.local:8080", "--allow-insecure-http",
        "--region", "eu west 1", "-p", "bedrock", "batches", "wait", "id with space",
    ]


def test_a_hint_may_name_another_provider_or_add_a_switch() -> None:
    run = Invocation.from_flags({"provider": "openai", "emulator": False})
    assert run.command("batches get", "batches/x", provider="gemini") == "bifrost --no-emulator -p gemini batches get batches/x"
    assert run.command("batches list", adding="--emulator") == "bifrost --emulator -p openai batches list"
    assert Invocation().command("files list") == "bifrost files list"


def test_a_hint_naming_another_provider_leaves_out_the_options_of_the_first() -> None:
    run = Invocation.from_flags({"provider": "bedrock", "s3_uri": "s3://b/p", "region": "eu-west-1"}, profile="ci")
    assert run.command("batches get", "msgbatch_1", provider="anthropic") == "bifrost --profile ci -p anthropic batches get msgbatch_1"
    assert run.command("batches get", "j") == "bifrost --profile ci --region eu-west-1 --s3-uri s3://b/p -p bedrock batches get j"


def test_fixed_texts_get_the_options_except_the_emulator_commands() -> None:
    from bifrost_cli import hints

    hints.use(Invocation.from_flags({"emulator": True}))
    try:
        assert hints.expand("see `bifrost batches list`; `bifrost emulator serve`") == (
            "see `bifrost --emulator batches list`; `bifrost emulator serve`"
        )
    finally:
        hints.use(Invocation())

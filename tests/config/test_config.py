"""Pipeline configs: what a file may say, and every error naming the file and the key."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from shoebox_core import plugin as plugins
from shoebox_core.clock import FakeClock
from shoebox_core.config.pipeline import glob_for_template, load_pipeline
from shoebox_core.errors import ConfigError
from shoebox_core.plugin import Strategy, hookimpl
from shoebox_core.read.manager import ReadingRollManager
from shoebox_core.ship.callbacks import ArchiveCallback
from shoebox_core.write.checkers import CountRollChecker, SizeRollChecker

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]

BASE = """\
directory = "{directory}"
template = "events_%Y%m%dT%H%M%S_{{seq}}.events"
"""


class Upload(ArchiveCallback):
    """A transfer for the tests: remembers what it shipped; takes a secret."""

    name = "upload"
    shipped: list[tuple[str, str]] = []

    def __init__(self, *, bucket: str, secret_key: str = "", retries: int = 3) -> None:
        super().__init__()
        if bucket == "refuse":
            raise ValueError(f"bucket refused with key {secret_key}")
        self.bucket = bucket
        self.retries = retries

    def on_close(self, filename: str) -> None:
        Upload.shipped.append((self.bucket, filename))


class Recorder:
    """A callback with both hooks that records which of them ran."""

    calls: list[tuple[str, str, str]] = []

    def __init__(self, *, tag: str) -> None:
        self.tag = tag
        self.name = f"recorder-{tag}"

    def on_open(self, filename: str) -> None:
        Recorder.calls.append(("open", self.tag, filename))

    def on_close(self, filename: str) -> None:
        Recorder.calls.append(("close", self.tag, filename))


class NoHooks:
    def __init__(self) -> None:
        pass


class TestPlugin:
    @hookimpl
    def shoebox_transfers(self) -> list[Strategy]:
        return [
            Strategy("upload", Upload, "Ship sealed archives."),
            Strategy("twin", Upload, "Named like a callback."),
        ]

    @hookimpl
    def shoebox_callbacks(self) -> list[Strategy]:
        return [
            Strategy("recorder", Recorder, "Record hook calls."),
            Strategy("nohooks", NoHooks, "Builds an object without hooks."),
            Strategy("twin", Recorder, "Named like a transfer."),
        ]


class RivalPlugin:
    @hookimpl
    def shoebox_callbacks(self) -> list[Strategy]:
        return [Strategy("recorder", Recorder, "Another recorder.")]


@pytest.fixture
def manager() -> plugins.ShoeboxPluginManager:
    manager = plugins.fresh_plugin_manager(entry_points=False)
    manager.register(TestPlugin(), distribution="shoebox-test", version="1.0")
    return manager


@pytest.fixture(autouse=True)
def _reset() -> None:
    Upload.shipped = []
    Recorder.calls = []


def write(tmp_path: Path, body: str, name: str = "pipeline.toml") -> Path:
    path = tmp_path / name
    path.write_text(BASE.format(directory=tmp_path / "archive") + body)
    return path


def error(path: Path | dict[str, Any], manager: Any, **kwargs: Any) -> str:
    """The message of the ConfigError loading ``path`` raises, the file's directory left out."""
    with pytest.raises(ConfigError) as caught:
        load_pipeline(path, plugin_manager=manager, **kwargs)
    message = str(caught.value)
    if isinstance(path, Path):
        assert message.startswith(f"{path}: "), message
        message = message.replace(f"{path.parent}/", "")
    return message


# -- a good config ------------------------------------------------------------------------------


GOOD = """
[writer]
compression = "zstd"
block_records = 100
flush_interval = 0

[[roll]]
plugin = "size"
roll_size_mb = 64

[[roll]]
plugin = "count"
roll_records = "5"

[[on_open]]
plugin = "recorder"
tag = "first"

[[on_close]]
plugin = "recorder"
tag = "second"

[[on_close]]
plugin = "upload"
bucket = "${BUCKET:-archive-bucket}"
secret_key = "${THE_SECRET_KEY}"

[reader]
lenient = true

[input]
fields = ["event_type", "uuid=payload.instance_id"]
metadata = { host = "publisher_id or 'unknown'" }
"""


def test_a_good_config_assembles_every_section_in_file_order(tmp_path: Path, manager) -> None:
    path = write(tmp_path, GOOD)
    pipeline = load_pipeline(path, plugin_manager=manager, environ={"THE_SECRET_KEY": "hunter22"})
    assert [s.plugin for s in pipeline.roll] == ["size", "count"]
    assert [(s.plugin, s.kind) for s in pipeline.on_close] == [
        ("recorder", "callback"), ("upload", "transfer")
    ]
    assert pipeline.on_close[1].options == {"bucket": "archive-bucket", "secret_key": "hunter22"}
    assert pipeline.on_close[1].origin == "shoebox-test 1.0"
    assert pipeline.roll[0].origin.startswith("shoebox-core")
    assert pipeline.writer_settings == {"compression": "zstd", "block_records": 100,
                                        "flush_interval": 0}
    assert pipeline.reader_settings == {"lenient": True}
    assert pipeline.reader_pattern == "events_*T*_*.events"
    assert pipeline.input.fields == ("event_type", "uuid=payload.instance_id")
    assert not (tmp_path / "archive").exists(), "loading must not touch the directory"


def test_the_same_pipeline_from_a_dict(tmp_path: Path, manager) -> None:
    path = write(tmp_path, GOOD)
    environ = {"THE_SECRET_KEY": "x" * 8}
    from_file = load_pipeline(path, plugin_manager=manager, environ=environ)
    data = tomllib.loads(path.read_text())
    from_dict = load_pipeline(data, plugin_manager=manager, environ=environ)
    assert from_dict.source == "<dict>"
    assert from_dict.to_dict() | {"source": ""} == from_file.to_dict() | {"source": ""}


def test_a_writer_from_the_config_runs_each_hook_only_where_listed(tmp_path: Path, manager):
    pipeline = load_pipeline(write(tmp_path, GOOD), plugin_manager=manager,
                             environ={"THE_SECRET_KEY": "s3cr3t-value"})
    clock = FakeClock()
    with pipeline.open_writer(clock=clock, background=False) as writer:
        assert [type(c) for c in writer.roll_checkers] == [SizeRollChecker, CountRollChecker]
        assert all(c.clock is clock for c in writer.roll_checkers)
        assert writer.compression == "zstd" and writer.block_records == 100
        for i in range(12):
            writer.write({"i": str(i)}, f"payload {i}")
    assert len(writer.sealed) == 3
    assert [(hook, tag) for hook, tag, _ in Recorder.calls] == [
        ("open", "first"), ("close", "second")
    ] * 3
    assert [bucket for bucket, _ in Upload.shipped] == ["archive-bucket"] * 3
    records = list(pipeline.open_reader())
    assert [p for _, p in records] == [f"payload {i}" for i in range(12)]
    assert isinstance(pipeline.open_reader(), ReadingRollManager)


def test_describe_and_to_dict_never_show_a_secret(tmp_path: Path, manager) -> None:
    body = GOOD.replace('lenient = true', 'storage_options = { key = "${AWS_ID}", '
                        'endpoint = "http://x" }')
    environ = {"THE_SECRET_KEY": "hunter22-secret", "AWS_ID": "AKIA-IDENTIFIER"}
    pipeline = load_pipeline(write(tmp_path, body), plugin_manager=manager, environ=environ)
    shown = pipeline.describe() + json.dumps(pipeline.to_dict())
    assert "hunter22-secret" not in shown and "AKIA-IDENTIFIER" not in shown
    assert "secret_key=\"***\"" in pipeline.describe()
    assert pipeline.to_dict()["reader"]["storage_options"] == {"key": "***",
                                                               "endpoint": "http://x"}
    assert "(shoebox-test 1.0)" in pipeline.describe()


def test_a_value_drawn_from_a_secret_variable_is_shown_as_its_reference(tmp_path, manager):
    body = '[[on_close]]\nplugin = "upload"\nbucket = "b-${API_TOKEN}"\n'
    pipeline = load_pipeline(write(tmp_path, body), plugin_manager=manager,
                             environ={"API_TOKEN": "tok-123456"})
    assert pipeline.on_close[0].options["bucket"] == "b-tok-123456"
    assert pipeline.on_close[0].shown["bucket"] == "b-${API_TOKEN}"


def test_a_literal_secret_in_the_file_is_warned_about_without_its_value(tmp_path, manager):
    body = '[[on_close]]\nplugin = "upload"\nbucket = "b"\nsecret_key = "literal-secret"\n'
    pipeline = load_pipeline(write(tmp_path, body), plugin_manager=manager)
    assert len(pipeline.warnings) == 1 and "secret_key" in pipeline.warnings[0]
    assert "literal-secret" not in pipeline.warnings[0] + pipeline.describe()


def test_environment_references_defaults_and_escapes(tmp_path: Path, manager) -> None:
    body = ('[[on_close]]\nplugin = "upload"\n'
            'bucket = "${A}-${B:-bee}-${C:-}-$${NOT}-$$"\n')
    pipeline = load_pipeline(write(tmp_path, body), plugin_manager=manager,
                             environ={"A": "ay", "C": ""})
    assert pipeline.on_close[0].options["bucket"] == "ay-bee--${NOT}-$"


def test_import_paths_name_strategies_that_no_plugin_registers(tmp_path: Path, manager) -> None:
    body = '[[roll]]\nplugin = "shoebox_core.write.checkers:CountRollChecker"\nroll_records = 3\n'
    pipeline = load_pipeline(write(tmp_path, body), plugin_manager=manager)
    assert isinstance(pipeline.roll[0].build(), CountRollChecker)


def test_shorthand_entries_and_a_single_table(tmp_path: Path, manager) -> None:
    pipeline = load_pipeline(
        {"template": "x_{seq}", "roll": "never", "on_close": ["delete"]},
        plugin_manager=manager,
    )
    assert [s.plugin for s in pipeline.roll] == ["never"]
    assert [s.plugin for s in pipeline.on_close] == ["delete"]
    assert pipeline.directory == "."


def test_a_namer_plugin_instead_of_the_template(tmp_path: Path, manager) -> None:
    pipeline = load_pipeline(
        {"directory": str(tmp_path), "namer": {"plugin": "template", "template": "n_{seq}.ev"}},
        plugin_manager=manager,
    )
    assert pipeline.template is None and pipeline.namer is not None
    assert pipeline.namer.where == '[namer] (plugin "template")'
    assert pipeline.reader_pattern == "n_*.ev"
    with pipeline.open_writer(background=False) as writer:
        writer.write({}, "x")
    assert [os.path.basename(p) for p in writer.sealed] == ["n_000000.ev"]
    assert error({"namer": {"plugin": "template", "templat": "x"}}, manager).startswith(
        '<dict>: [namer] (plugin "template") does not accept option \'templat\''
    )


@pytest.mark.parametrize(
    ("template", "pattern"),
    [
        ("events_%Y%m%dT%H%M%S_{seq}.events", "events_*T*_*.events"),
        ("a_{host}_{pid}_{seq:09d}.log", "a_*_*_*.log"),
        ("100%%_[x]_{{y}}.e", "100%_[[]x]_{y}.e"),
        ("plain.events", "plain.events"),
    ],
)
def test_the_default_reader_pattern_matches_what_the_template_makes(template, pattern) -> None:
    assert glob_for_template(template) == pattern


# -- every error names the file and the key -----------------------------------------------------


def test_not_toml(tmp_path: Path, manager) -> None:
    path = write(tmp_path, "[[on_close]\n")
    message = error(path, manager)
    assert message.startswith("pipeline.toml: not valid TOML: ") and "line 3" in message


def test_an_unreadable_file(tmp_path: Path, manager) -> None:
    message = error(tmp_path / "missing.toml", manager)
    assert message == "missing.toml: cannot read the config: No such file or directory"


def test_an_unknown_top_level_key(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, "rol = 1\n"), manager)
    assert "pipeline.toml: unknown key 'rol' (did you mean 'roll'?); accepted: directory, " \
           "template, namer, roll, on_open, on_close, writer, reader, input" in message


def test_an_unknown_plugin_lists_what_is_installed_and_from_where(tmp_path, manager) -> None:
    message = error(write(tmp_path, '[[on_close]]\nplugin = "uplod"\n'), manager)
    assert message.startswith('pipeline.toml: [[on_close]] #1 (plugin "uplod"): unknown '
                              "callback or transfer 'uplod'.")
    assert "Did you mean 'upload'?" in message
    assert re.search(r"Available callbacks:\n(.*\n)*  gzip +shoebox-core", message)
    assert re.search(r"Available transfers:\n(.*\n)*  twin +shoebox-test 1.0\n  upload +"
                     r"shoebox-test 1.0", message)


def test_a_known_plugin_not_installed_says_what_to_install(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, '[[on_close]]\nplugin = "s3"\nbucket = "b"\n'), manager)
    assert "'s3' is a transfer from shoebox-s3, which is not installed: pip install shoebox-s3" \
        in message
    message = error(write(tmp_path, '[[roll]]\nplugin = "idle"\n'),
                    plugins.fresh_plugin_manager(entry_points=False))
    assert "pip install shoebox-timecheck" in message


def test_a_plugin_in_the_wrong_section(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, '[[on_close]]\nplugin = "size"\n'), manager)
    assert message == ('pipeline.toml: [[on_close]] #1 (plugin "size"): \'size\' is a roll '
                       "checker, not a callback or transfer: list it under [[roll]]")
    message = error(write(tmp_path, '[[on_open]]\nplugin = "upload"\nbucket = "b"\n'), manager)
    assert "'upload' is a transfer, not a callback: list it under [[on_close]]" in message


def test_an_unknown_option_lists_the_accepted_ones(tmp_path: Path, manager) -> None:
    body = '[[on_close]]\nplugin = "recorder"\ntag = "x"\n\n[[on_close]]\nplugin = "gzip"\n' \
           "levle = 9\n"
    message = error(write(tmp_path, body), manager)
    assert message == ('pipeline.toml: [[on_close]] #2 (plugin "gzip") does not accept option '
                       "'levle' (did you mean 'level' instead of 'levle'?); accepted options: "
                       "level, keep_original")


def test_a_missing_required_option(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, '[[on_close]]\nplugin = "upload"\n'), manager)
    assert message.startswith('pipeline.toml: [[on_close]] #1 (plugin "upload") needs option '
                              "'bucket'; accepted options: bucket, secret_key, retries")
    message = error(write(tmp_path, '[[roll]]\nplugin = "count"\n'), manager)
    assert message == ('pipeline.toml: [[roll]] #1 (plugin "count") needs option '
                       "'roll_records'; accepted options: roll_records")  # clock is not one


def test_a_wrong_type_from_the_annotations(tmp_path: Path, manager) -> None:
    body = '[[on_close]]\nplugin = "upload"\nbucket = "b"\nretries = "three"\n'
    message = error(write(tmp_path, body), manager)
    assert message == ('pipeline.toml: [[on_close]] #1 (plugin "upload"): option \'retries\' '
                       "must be an integer, got string 'three'")
    message = error(write(tmp_path, '[[on_close]]\nplugin = "move"\ndirectory = 5\n'), manager)
    assert message.endswith("option 'directory' must be a string, got integer 5")


def test_a_wrong_value_the_strategy_refuses_itself(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, '[[roll]]\nplugin = "size"\nroll_size_mb = "ten"\n'), manager)
    assert message == ('pipeline.toml: [[roll]] #1 (plugin "size"): SizeRollChecker: option '
                       "'roll_size_mb' must be a number, got 'ten'")


def test_an_entry_without_a_plugin_key(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, "[[roll]]\nroll_size_mb = 1\n"), manager)
    assert message == ('pipeline.toml: [[roll]] #1: has no "plugin" key: say which plugin to '
                       'use, e.g. plugin = "size"')


def test_a_section_of_the_wrong_shape(tmp_path: Path, manager) -> None:
    assert error(write(tmp_path, "roll = 3\n"), manager) == (
        "pipeline.toml: roll: must be an array of tables ([[roll]]), got integer"
    )
    assert error(write(tmp_path, "writer = 3\n"), manager) == (
        "pipeline.toml: writer: must be a table ([writer]), got integer"
    )


def test_a_strategy_without_the_hook_its_section_calls(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, '[[on_close]]\nplugin = "nohooks"\n'), manager)
    assert message.endswith("the callback built (NoHooks) has no on_close() method, so it cannot "
                            "serve under [[on_close]]")


def test_a_name_offered_as_callback_and_transfer_is_refused(tmp_path, manager) -> None:
    message = error(write(tmp_path, '[[on_close]]\nplugin = "twin"\ntag = "x"\n'), manager)
    assert "'twin' names a callback from shoebox-test 1.0; a transfer from shoebox-test 1.0" \
        in message and "import path" in message


def test_a_name_offered_by_two_distributions_is_refused(tmp_path, manager) -> None:
    manager.register(RivalPlugin(), distribution="shoebox-rival", version="2.0")
    message = error(write(tmp_path, '[[on_close]]\nplugin = "recorder"\ntag = "x"\n'), manager)
    assert "offered by more than one plugin: shoebox-test 1.0" in message
    assert "shoebox-rival 2.0" in message


def test_clock_cannot_come_from_a_file(tmp_path: Path, manager) -> None:
    message = error(write(tmp_path, '[[roll]]\nplugin = "count"\nroll_records = 1\nclock = 1\n'),
                    manager)
    assert message.endswith("option 'clock' cannot be set in a config file")


def test_an_unset_environment_variable_names_the_key(tmp_path: Path, manager) -> None:
    body = '[[on_close]]\nplugin = "upload"\nbucket = "${BUCKET}"\n'
    message = error(write(tmp_path, body), manager, environ={})
    assert message == ('pipeline.toml: [[on_close]] #1 (plugin "upload"): option \'bucket\': '
                       "environment variable BUCKET is not set (give a default with "
                       "${BUCKET:-default})")
    message = error({"template": "x", "directory": "${NOPE}"}, manager, environ={})
    assert message.startswith("<dict>: directory: environment variable NOPE is not set")


def test_a_malformed_reference(tmp_path: Path, manager) -> None:
    body = '[[on_close]]\nplugin = "upload"\nbucket = "${BUCKET"\n'
    assert "malformed environment reference" in error(write(tmp_path, body), manager)


def test_a_secret_is_blanked_from_a_strategy_error(tmp_path: Path, manager) -> None:
    body = '[[on_close]]\nplugin = "upload"\nbucket = "refuse"\nsecret_key = "${KEY}"\n'
    message = error(write(tmp_path, body), manager, environ={"KEY": "top-secret-value"})
    assert "top-secret-value" not in message and "bucket refused with key ***" in message
    body = '[[on_close]]\nplugin = "upload"\nbucket = "b"\nsecret_key = 12345\n'
    message = error(write(tmp_path, body), manager)
    assert "12345" not in message and "must be a string, got integer ***" in message


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("[writer]\ncompresion = 'zstd'\n",
         "pipeline.toml: [writer]: unknown key 'compresion' (did you mean 'compression'?)"),
        ("[writer]\ncompression = 'lz4'\n",
         "pipeline.toml: [writer] compression: must be one of 'none', 'zstd', got 'lz4'"),
        ("[writer]\nflush_interval = 'soon'\n",
         "pipeline.toml: [writer] flush_interval: must be a number, got string 'soon'"),
        ("[writer]\nblock_records = 0\n",
         "pipeline.toml: [writer] block_records: must be at least 1, got 0"),
        ("[writer]\nbackground = 'yes'\n",
         "pipeline.toml: [writer] background: must be true or false, got string 'yes'"),
        ("[reader]\nlenent = true\n",
         "pipeline.toml: [reader]: unknown key 'lenent' (did you mean 'lenient'?)"),
        ("[reader]\nstorage_options = 'anon'\n",
         "pipeline.toml: [reader] storage_options: must be a table, got string 'anon'"),
        ("[reader]\npattern = 3\n",
         "pipeline.toml: [reader] pattern: must be a string, got integer 3"),
        ("[input]\nfields = 'a,b'\n",
         "pipeline.toml: [input] fields: must be an array, got string 'a,b'"),
        ("[input]\nfields = ['a', 1]\n",
         "pipeline.toml: [input] fields #2: must be a string, got integer"),
        ("[input]\nmissing = 'skip'\n",
         "pipeline.toml: [input] missing: must be one of 'empty', 'omit', 'error', got 'skip'"),
        ("[input]\nmetadata = { h = 'lower(a' }\n",
         "pipeline.toml: [input]: metadata 'h': expected ) at the end of 'lower(a'"),
        ("[input]\nfield = []\n",
         "pipeline.toml: [input]: unknown key 'field' (did you mean 'fields'?)"),
    ],
)
def test_settings_errors_name_the_table_and_key(tmp_path, manager, body, expected) -> None:
    assert error(write(tmp_path, body), manager).startswith(expected)


def test_a_bad_template_and_a_missing_one(tmp_path: Path, manager) -> None:
    assert error({"template": "a/{seq}"}, manager).startswith(
        "<dict>: template: file name template 'a/{seq}' contains a path separator"
    )
    assert error({"template": "a_{sek}"}, manager).startswith(
        "<dict>: template: file name template 'a_{sek}': unknown field {sek}"
    )
    assert error({"directory": "x"}, manager).startswith(
        "<dict>: template is missing: say how archives are named"
    )
    assert error({"template": "x", "directory": 5}, manager) == (
        "<dict>: directory: must be a string, got integer 5"
    )


def test_the_name_given_for_a_dict_names_the_errors(manager) -> None:
    assert error({"tempate": "x"}, manager, name="app settings").startswith(
        "app settings: unknown key 'tempate' (did you mean 'template'?)"
    )


# -- the documentation --------------------------------------------------------------------------


def test_docs_config_md_describes_every_setting_and_section() -> None:
    import inspect

    from shoebox_core.config._load import PROGRAM_ONLY, SECTIONS
    from shoebox_core.read.manager import ReadingRollManager
    from shoebox_core.write.manager import WritingRollManager

    text = (REPO / "docs" / "config.md").read_text()
    for cls in (WritingRollManager, ReadingRollManager):
        for name, p in inspect.signature(cls).parameters.items():
            if p.kind is p.KEYWORD_ONLY and name not in PROGRAM_ONLY:
                assert f"`{name}`" in text, f"docs/config.md does not describe {name}"
    for section in SECTIONS:
        assert f"`{section}`" in text or f"[{section}]" in text, section


def test_the_example_configs_load(monkeypatch: pytest.MonkeyPatch) -> None:
    from shoebox_timecheck import plugin as timecheck_plugin

    from shoebox_core.cli.admin import EXAMPLE_CONFIG

    monkeypatch.syspath_prepend(str(REPO / "examples" / "shoebox_example"))
    from shoebox_example import plugin as example_plugin

    manager = plugins.fresh_plugin_manager(entry_points=False)
    manager.register(example_plugin, distribution="shoebox-example", version="0.1.0")
    manager.register(timecheck_plugin, distribution="shoebox-timecheck", version="0.1.0")
    configs = sorted((REPO / "examples").glob("*.toml"))
    assert configs
    for path in configs:
        assert load_pipeline(path, plugin_manager=manager).on_close, path
    assert load_pipeline(tomllib.loads(EXAMPLE_CONFIG), plugin_manager=manager).on_close

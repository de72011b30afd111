"""Property tests of the config file loader (issue 10): YAML and TOML run configs either load
(exactly the config written) or raise a ConfigError naming the file, and the line where the
parser knows it; random bytes, truncation, wrong encodings, control characters, huge and deep
values, alias bombs included."""

import json
import typing

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st
from robust import FUZZ, TEXTY, line_of, loads_or_explains

from rnnkit.errors import ConfigError
from rnnkit.training.config import FLAT, SECTIONS, RunConfig, load_file, read_mapping

SUFFIXES = [".yaml", ".toml"]


# ----------------------------------------------------------------------------- configs


def values_for(hint) -> st.SearchStrategy:
    """Values of a field's type (most valid, some out of range: those configs are skipped)."""
    origin = typing.get_origin(hint)
    if origin is typing.Literal:
        return st.sampled_from(typing.get_args(hint))
    if origin is not None:  # X | None, or X | Literal[...] (| None)
        args = typing.get_args(hint)
        inner = st.one_of([values_for(a) for a in args if a is not type(None)])
        return st.none() | inner if type(None) in args else inner
    return {
        bool: st.booleans(),
        int: st.integers(0, 10**6),
        float: st.floats(0, 1) | st.floats(1, 1e6),
        str: st.text(st.characters(blacklist_categories=["Cs"]), max_size=8),
    }[hint]


@st.composite
def configs(draw) -> RunConfig:
    keys = draw(st.lists(st.sampled_from(sorted(FLAT)), max_size=8, unique=True))
    overrides = {}
    for key in keys:
        section, name = FLAT[key]
        overrides[key] = draw(values_for(typing.get_type_hints(SECTIONS[section])[name]))
    try:
        return RunConfig().replace(**overrides)
    except ConfigError:
        assume(False)


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    # a JSON string is a TOML basic string, except that TOML refuses a raw DEL
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def as_toml(config: RunConfig) -> str:
    lines = []
    for section, fields in config.to_dict().items():
        lines.append(f"[{section}]")
        # TOML has no null: a None field is left out, which keeps its default
        lines += [f"{k} = {toml_value(v)}" for k, v in fields.items() if v is not None]
    return "\n".join(lines) + "\n"


def as_text(config: RunConfig, suffix: str) -> str:
    if suffix == ".toml":
        return as_toml(config)
    return yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True)


def expressible(config: RunConfig, suffix: str) -> bool:
    """False for a TOML file that would need a null (a None field whose default is not None)."""
    if suffix != ".toml":
        return True
    default = RunConfig().to_dict()
    return all(
        v is not None or default[s][k] is None
        for s, fields in config.to_dict().items()
        for k, v in fields.items()
    )


# ----------------------------------------------------------------------------- any bytes


@FUZZ
@given(data=TEXTY | st.binary(max_size=2000))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_any_bytes_load_or_explain(tmp_path, suffix, data):
    path = tmp_path / f"any{suffix}"
    path.write_bytes(data)
    result = loads_or_explains(load_file, path, error=ConfigError)
    assert isinstance(result, (RunConfig, ConfigError))
    # read_mapping alone (the ablation grid's reader) holds to the same rule
    loads_or_explains(read_mapping, path, error=ConfigError)


@FUZZ
@given(body=TEXTY, section=st.sampled_from(["task", "model", "optim", "train"]))
@pytest.mark.parametrize("suffix", SUFFIXES)
def test_any_bytes_inside_a_section_load_or_explain(tmp_path, suffix, body, section):
    # behind a valid section header, random bytes reach the field checks more often
    head = f"[{section}]\n" if suffix == ".toml" else f"{section}:\n  "
    path = tmp_path / f"section{suffix}"
    path.write_bytes(head.encode() + body)
    loads_or_explains(load_file, path, error=ConfigError)


# ----------------------------------------------------------------------------- round trip


@FUZZ
@given(config=configs(), suffix=st.sampled_from(SUFFIXES))
def test_configs_round_trip(tmp_path, config, suffix):
    assume(expressible(config, suffix))
    path = tmp_path / f"run{suffix}"
    path.write_bytes(as_text(config, suffix).encode("utf-8"))
    assert load_file(path) == config


# ----------------------------------------------------------------------------- one bad line


def corrupt(line: bytes, how: str, at: float) -> bytes:
    k = int(at * (len(line) + 1))
    if how == "invalid utf-8":
        return line[:k] + b"\xff" + line[k:]
    if how == "control character":  # neither YAML nor TOML allows one outside a string escape
        return line[:k] + b"\x01" + line[k:]
    if how == "latin-1":  # a comment saved in the wrong encoding
        return "# caf\xe9".encode("latin-1")
    if how == "tab indent":  # YAML forbids tabs in indentation; TOML allows them
        return b"\t" + line.lstrip(b" ")
    cut = 1 + int(at * (len(line) - 1))  # truncate: at least one byte stays, one goes
    return line[:cut]


@FUZZ
@given(
    config=configs(),
    suffix=st.sampled_from(SUFFIXES),
    how=st.sampled_from(
        ["invalid utf-8", "control character", "latin-1", "tab indent", "truncate"]
    ),
    at=st.floats(0, 0.999),
    data=st.data(),
)
def test_one_corrupt_line_is_named(tmp_path, config, suffix, how, at, data):
    assume(expressible(config, suffix))
    lines = as_text(config, suffix).encode("utf-8").split(b"\n")[:-1]
    # tab indent and truncation: on an indented YAML line / a TOML key line only
    if how == "tab indent":
        assume(suffix == ".yaml")
        candidates = [i for i, x in enumerate(lines) if x.startswith(b"  ")]
    elif how == "truncate":
        candidates = [i for i, x in enumerate(lines) if b" = " in x or b": " in x]
    else:
        candidates = list(range(len(lines)))
    bad = data.draw(st.sampled_from(candidates))
    original = lines[bad]
    lines[bad] = corrupt(original, how, at)
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(b"".join(x + b"\n" for x in lines))
    result = loads_or_explains(load_file, path, error=ConfigError)
    if how == "truncate":
        # A cut line may still be valid ("lr: 0.001" -> "lr: 0.0", "name: copy" -> "name: co"
        # in YAML): then it loads, or its field's check refuses it, naming the field.
        if isinstance(result, ConfigError) and line_of(result, path) is None:
            key = original.split(b"=" if suffix == ".toml" else b":")[0].strip().decode()
            assert f".{key}:" in str(result) or f"key {key}" in str(result), str(result)
            return
        if isinstance(result, RunConfig):
            return
        if suffix == ".yaml" and line_of(result, path) == bad + 2:
            # "  seq_len: 100" cut to "  seq_l" is a plain scalar, which YAML lets go on
            # over the next line: the parser finds the missing ':' there
            return
    assert isinstance(result, ConfigError), f"{how} on line {bad + 1} was accepted"
    assert line_of(result, path) == bad + 1, str(result)


@FUZZ
@given(config=configs(), suffix=st.sampled_from(SUFFIXES), data=st.data())
def test_a_truncated_file_loads_or_explains(tmp_path, config, suffix, data):
    assume(expressible(config, suffix))
    raw = as_text(config, suffix).encode("utf-8")
    cut = data.draw(st.integers(0, len(raw)))
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(raw[:cut])
    result = loads_or_explains(load_file, path, error=ConfigError)
    if cut == len(raw):
        assert result == config


# ----------------------------------------------------------------------------- huge, deep, empty


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_deep_nesting_explains(tmp_path, suffix):
    # tomllib and PyYAML recurse per level: 100,000 levels raised a raw RecursionError
    path = tmp_path / f"deep{suffix}"
    path.write_text(("a = " if suffix == ".toml" else "a: ") + "[" * 100_000 + "]" * 100_000)
    error = loads_or_explains(load_file, path, error=ConfigError)
    assert isinstance(error, ConfigError) and "nested too deeply" in str(error)


def test_a_yaml_alias_bomb_explains_quickly(tmp_path):
    # nine lines naming 9**9 values: the field check's message (repr of the value) needed GBs
    lines = ["model:", "  name: [&a [x, x, x, x, x, x, x, x, x],"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"    &{name} [" + ", ".join([f"*{prev}"] * 9) + "],")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n    end]\n")
    error = loads_or_explains(load_file, path, error=ConfigError, seconds=5)
    assert isinstance(error, ConfigError) and "aliases expand" in str(error)
    path.write_text("model:\n  name: &a [1, *a]\n")  # a value that contains itself
    error = loads_or_explains(load_file, path, error=ConfigError, seconds=5)
    assert isinstance(error, ConfigError) and "contains it" in str(error)


@pytest.mark.parametrize(
    "suffix, text, line",
    [
        # values the YAML loader could not build raised a bare ValueError
        (".yaml", "model:\n  hidden: 1" + "0" * 5000 + "\n", 2),
        (".yaml", "task:\n  name: copy\n  data: 2024-13-45\n", 3),
        # tomllib's own int() raised a bare ValueError
        (".toml", "[model]\nhidden = 1" + "0" * 5000 + "\n", 2),
        # tomllib's "(at line 2, column 10)" is now path:2:10
        (".toml", "[model]\nhidden = \n", 2),
        # a control character: PyYAML's message spanned two lines and had no line number
        (".yaml", "model:\n  hidden: 8\x01\n", 2),
    ],
)
def test_values_the_parser_cannot_build_name_their_line(tmp_path, suffix, text, line):
    path = tmp_path / f"value{suffix}"
    path.write_text(text)
    error = loads_or_explains(load_file, path, error=ConfigError)
    assert isinstance(error, ConfigError) and line_of(error, path) == line


@pytest.mark.parametrize(
    "text", ["1: 2\n", "model:\n  1: 2\n", "model:\n  ~: 8\n", "? 2024-01-01\n: 1\n"]
)
def test_keys_that_are_not_names_explain(tmp_path, text):
    # difflib's suggestion of a close name raised a TypeError on an int or None key
    path = tmp_path / "keys.yaml"
    path.write_text(text)
    error = loads_or_explains(load_file, path, error=ConfigError)
    assert isinstance(error, ConfigError) and "is not a name" in str(error)


@pytest.mark.parametrize("suffix", SUFFIXES)
def test_a_huge_line_explains_or_loads(tmp_path, suffix):
    value = "x" * 5_000_000
    path = tmp_path / f"huge{suffix}"
    path.write_text(
        f'[task]\nname = "lm"\ndata = "{value}"\n'
        if suffix == ".toml"
        else f"task:\n  name: lm\n  data: {value}\n"
    )
    assert loads_or_explains(load_file, path, error=ConfigError).task.data == value
    path.write_text(
        f'[model]\nhidden = "{value}"\n' if suffix == ".toml" else f"model:\n  hidden: {value}\n"
    )
    error = loads_or_explains(load_file, path, error=ConfigError)
    assert isinstance(error, ConfigError) and "model.hidden" in str(error)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("content", [b"", b"\n \n\n", b"\xef\xbb\xbf", b"# nothing set\n"])
def test_an_empty_config_keeps_the_defaults(tmp_path, suffix, content):
    # documented: missing keys keep their defaults, so a file that sets nothing is the
    # default config (not an error)
    path = tmp_path / f"empty{suffix}"
    path.write_bytes(content)
    assert loads_or_explains(load_file, path, error=ConfigError) == RunConfig()


@pytest.mark.parametrize("kind", ["missing", "dir", "utf-16", "wrong suffix"])
def test_missing_directory_wrong_encoding_and_suffix_explain(tmp_path, kind):
    path = tmp_path / ("run.json" if kind == "wrong suffix" else "run.yaml")
    if kind == "dir":
        path.mkdir()
    elif kind == "utf-16":
        path.write_bytes("model:\n  hidden: 8\n".encode("utf-16"))
    elif kind == "wrong suffix":
        path.write_bytes(b"\xff\xfe{}")
    error = loads_or_explains(load_file, path, error=ConfigError)
    assert isinstance(error, ConfigError)
    if kind == "utf-16":
        assert line_of(error, path) == 1 and "not UTF-8" in str(error)


def test_a_key_set_twice_is_refused_at_its_second_line(tmp_path):
    path = tmp_path / "twice.yaml"
    path.write_text("optim:\n  lr: 0.1\n  clip: 1.0\n  lr: 0.2\n")
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert line_of(info.value, path) == 4
    assert "key 'lr' appears twice" in str(info.value)

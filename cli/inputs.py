"""Reading user files for the CLI: strict YAML, JSON actions, JSON Lines histories."""
from __future__ import annotations

import datetime as _dt
import sys
from typing import Any, Iterator, Optional, Tuple

import yaml

from engine import MAX_RECORD_BYTES, ActionError, InputSyntaxError, format_timestamp, loads_action


class InputError(Exception):
    """Unreadable or malformed user input; `where` is FILE[:LINE[:COL]]."""

    def __init__(self, where: str, message: str):
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


# the largest test file read (docs/cli.md): YAML costs far more memory than its text
MAX_YAML_BYTES = 16 * 1024 * 1024


class RefusedInput(InputError):
    """Input refused before it is used (a YAML alias, a file over its size cap): unreadable, exit 2."""


class _AliasRefused(yaml.composer.ComposerError):
    """An anchor or alias in a strict YAML document."""


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys instead of silently keeping the last one, and refuses
    anchors and aliases: a few lines of nested aliases expand to gigabytes (billion laughs)."""

    def compose_node(self, parent, index):  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            what = "an alias" if isinstance(event, yaml.AliasEvent) else "an anchor"
            raise _AliasRefused(
                None, None, f"{what} (`{'*' if what == 'an alias' else '&'}{event.anchor}`): "
                            f"anchors and aliases are not allowed in test files", event.start_mark)
        return super().compose_node(parent, index)


def _mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key `{key}`", mark)
        out[key] = loader.construct_object(value_node, deep=True)
    return out


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    """YAML integers; one past Python's int-from-text digit limit is an error at its line and column."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_int(loader, node)
    except ValueError:
        digits = sum(c.isdigit() for c in str(node.value))
        raise yaml.constructor.ConstructorError(None, None, f"an integer of {digits} digits is too large to read",
                                                node.start_mark) from None


_StrictLoader.add_constructor("tag:yaml.org,2002:int", _int)


def read_text(path: str, limit: Optional[int] = None) -> str:
    """A file's (or stdin's) UTF-8 text. With `limit`, the file must be a regular file of at most
    that many bytes (a bounded read: neither a huge file nor a FIFO is waited on)."""
    try:
        if path == "-":
            if limit is None:
                return sys.stdin.read()
            text = sys.stdin.read(limit + 1)
            if len(text.encode("utf-8", "surrogatepass")) > limit:
                raise RefusedInput(path, f"larger than {limit // (1024 * 1024)} MiB")
            return text
        if limit is not None:
            from policy_lang import read_regular
            return read_regular(path, limit).decode("utf-8-sig")
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(path, "not valid UTF-8") from None
    except OSError as e:
        from policy_lang import reason_of
        raise InputError(path, reason_of(e)) from None


def load_yaml(path: str) -> Any:
    """A test file's strict YAML, read with the size cap."""
    return parse_yaml(read_text(path, MAX_YAML_BYTES), path)


def parse_yaml(text: str, path: str) -> Any:
    """Strict YAML of a file already read; InputError naming FILE:LINE:COL if it is malformed."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 -- a SafeLoader subclass (no object tags)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else path
        error = RefusedInput if isinstance(e, _AliasRefused) else InputError
        raise error(where, f"invalid YAML: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise InputError(path, f"invalid YAML: {e}") from None
    except RecursionError:  # PyYAML composes and constructs recursively
        raise InputError(path, "invalid YAML: nested too deeply") from None


def yaml_to_json(value: Any) -> Any:
    """YAML date-times are timestamps (RFC 3339 strings); dates are midnight UTC."""
    if isinstance(value, _dt.datetime):
        return format_timestamp(value if value.tzinfo else value.replace(tzinfo=_dt.timezone.utc))
    if isinstance(value, _dt.date):
        return value.isoformat() + "T00:00:00Z"
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: yaml_to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [yaml_to_json(v) for v in value]
    return value


def read_action(path: str) -> Tuple[Any, str]:
    """Returns (action or None, input-error message or ''). Syntax errors raise InputError."""
    text = read_text(path)
    name = "<stdin>" if path == "-" else path
    try:
        return loads_action(text), ""
    except InputSyntaxError as e:
        raise InputError(f"{name}:{e.line}:{e.column}", e.message) from None
    except ActionError as e:
        return None, e.message


def read_history(path: str, max_record: int = MAX_RECORD_BYTES) -> Iterator[Tuple[int, Any]]:
    """JSON Lines: yields (line number, action). A malformed line raises InputError naming it; so does a
    line longer than `max_record` bytes, found while reading (the file is streamed, never read whole)."""
    name = "<stdin>" if path == "-" else path
    try:
        fh = sys.stdin.buffer if path == "-" else open(path, "rb")
    except OSError as e:
        from policy_lang import reason_of
        raise InputError(path, reason_of(e)) from None
    try:
        n = 0
        while True:
            try:
                raw = fh.readline(max_record + 1)
            except OSError as e:
                from policy_lang import reason_of
                raise InputError(path, reason_of(e)) from None
            if not raw:
                return
            n += 1
            if len(raw) > max_record and not raw.endswith(b"\n"):  # readline stopped at the cap, mid-record
                raise InputError(f"{name}:{n}", f"a record longer than {max_record:,} bytes (the cap on one record)")
            try:
                line = raw.decode("utf-8-sig" if n == 1 else "utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{name}:{n}", "not valid UTF-8") from None
            if not line.strip():
                continue
            try:
                yield n, loads_action(line)
            except InputSyntaxError as e:
                raise InputError(f"{name}:{n}:{e.column}", e.message) from None
            except ActionError as e:
                raise InputError(f"{name}:{n}", e.message) from None
    finally:
        if path != "-":
            fh.close()


EXIT_LOAD_ERRORS, EXIT_UNREADABLE = 1, 2


def read_policy(path: str) -> str:
    """The text of a root policy file (never stdin: a policy is a file); InputError if unreadable."""
    from policy_lang import read_policy_text
    try:
        return read_policy_text(path)
    except UnicodeDecodeError:
        raise InputError(path, "not valid UTF-8") from None
    except IsADirectoryError:
        raise InputError(path, "is a directory") from None
    except OSError as e:
        from policy_lang import reason_of
        raise InputError(path, reason_of(e)) from None


def load_or_exit(path: str, consequence: str = "the policy is not evaluated"):
    """Load and compile a root policy for any command, or exit. The one rule for every command:
    a policy file that cannot be read is unreadable input (exit 2, like an unreadable action or
    history); a policy that reads but has load errors prints every diagnostic and exits 1 (a policy
    with errors never runs). Files the policy `use`s are part of the policy: E300/E302, exit 1."""
    from engine import Policy
    from policy_lang import PolicyError, load

    from .output import echo, field
    try:
        text = read_policy(path)
    except InputError as e:
        echo(f"error: {field(e.where)}: {field(e.message)}", err=True)
        sys.exit(EXIT_UNREADABLE)
    try:
        return Policy(load(path, text))
    except PolicyError as e:
        echo(str(e), err=True)   # each diagnostic escapes what the policy controls
        n = len(e.diagnostics)
        echo(f"{n} error{'s' if n != 1 else ''}: {consequence}", err=True)
        sys.exit(EXIT_LOAD_ERRORS)

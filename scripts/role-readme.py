#!/usr/bin/env python3
"""role-readme.py — the variable table of ansible/roles/migo_relay/README.md,
written from the role's meta/argument_specs.yml (what Ansible checks before
the role runs), so the README cannot drift from the role.

  role-readme.py           rewrite the table between the README's markers
  role-readme.py --check   exit 1 (and say which) if the README is not current
Either way it fails when the specification's defaults and defaults/main.yml
disagree, or a variable is in one and not the other.
"""
import pathlib
import sys

import yaml

ROLE = pathlib.Path(__file__).resolve().parent.parent / "ansible/roles/migo_relay"
README = ROLE / "README.md"
BEGIN = "<!-- variables: written by scripts/role-readme.py from meta/argument_specs.yml -->"
END = "<!-- end of variables -->"


def cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def load():
    spec = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())
    return spec["argument_specs"]["main"]["options"], yaml.safe_load((ROLE / "defaults/main.yml").read_text())


def disagreements(options, defaults):
    """Where the specification and defaults/main.yml tell different stories."""
    out = [f"{k}: in defaults/main.yml, not in argument_specs.yml" for k in defaults if k not in options]
    for k, o in options.items():
        if k not in defaults:
            out.append(f"{k}: specified, but no default in defaults/main.yml")
        elif "default" in o and o["default"] != defaults[k]:
            out.append(f"{k}: argument_specs.yml says {o['default']!r}, defaults/main.yml {defaults[k]!r}")
    return out


def table(options, defaults):
    rows = ["| variable | type | default | what |", "|---|---|---|---|"]
    for name, o in options.items():
        # A templated default ("{{ migo_etc }}/dkim") is not in the
        # specification, which Ansible would not expand.
        default = o.get("default", defaults.get(name))
        if default == "":
            shown = '`""`'
        elif isinstance(default, str):
            shown = "`" + cell(default) + "`"
        else:
            shown = "`" + cell(yaml.safe_dump(default, default_flow_style=True).strip().removesuffix("...").strip()) + "`"
        kind = o.get("type", "str")
        if "choices" in o:
            kind += ": " + ", ".join(str(c) for c in o["choices"])
        desc = o.get("description", "")
        if isinstance(desc, list):
            desc = " ".join(desc)
        rows.append(f"| `{name}` | {cell(kind)} | {shown} | {cell(desc)} |")
    return "\n".join(rows)


def main():
    options, defaults = load()
    wrong = disagreements(options, defaults)
    for w in wrong:
        print(f"role-readme.py: {w}", file=sys.stderr)
    if wrong:
        return 1
    text = README.read_text()
    if BEGIN not in text or END not in text:
        print(f"role-readme.py: {README} lacks the markers", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{BEGIN}\n{table(options, defaults)}\n{END}{tail}"
    if sys.argv[1:] == ["--check"]:
        if new != text:
            print(f"role-readme.py: {README} is not current; run scripts/role-readme.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())

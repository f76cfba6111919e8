"""`signoff fmt` on files and folders, with --check and --diff."""
from click.testing import CliRunner

from cli.main import cli

MESSY = 'policy "x"\ntool a{risk low}\ncategory low {allow}\n'
CLEAN = 'policy "x"\ntool a {\n  risk low\n}\ncategory low {\n  allow\n}\n'


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_fmt_rewrites_in_place_and_is_then_clean(tmp_path):
    f = tmp_path / "a.policy"
    f.write_text(MESSY)
    r = run("fmt", tmp_path)
    assert r.exit_code == 0 and f.read_text() == CLEAN
    assert "1 file reformatted" in r.stderr
    r = run("fmt", "--check", f)
    assert r.exit_code == 0 and "0 files would be reformatted, 1 unchanged" in r.stderr


def test_check_exits_1_and_changes_nothing(tmp_path):
    f = tmp_path / "a.policy"
    f.write_text(MESSY)
    r = run("fmt", "--check", f)
    assert r.exit_code == 1 and f"would reformat {f}" in r.stdout
    assert f.read_text() == MESSY


def test_diff_prints_unified_diff(tmp_path):
    f = tmp_path / "a.policy"
    f.write_text(MESSY)
    r = run("fmt", "--diff", f)
    assert r.exit_code == 1
    assert f"--- {f}" in r.stdout and "-tool a{risk low}" in r.stdout and "+  risk low" in r.stdout
    assert f.read_text() == MESSY


def test_broken_file_is_reported_and_left_alone(tmp_path):
    f = tmp_path / "a.policy"
    f.write_text('policy "x"\ntool a { risk low when }\n')
    r = run("fmt", f)
    assert r.exit_code == 1 and "a.policy:2:24: error[E100]" in r.stderr
    assert f.read_text() == 'policy "x"\ntool a { risk low when }\n'


def test_modules_without_policy_line_format_too(tmp_path):
    f = tmp_path / "routes.policy"
    f.write_text('route r {approvers "a"}\n')
    assert run("fmt", f).exit_code == 0
    assert f.read_text() == 'route r {\n  approvers "a"\n}\n'


def test_unreadable_file_exits_2_even_beside_a_broken_one(tmp_path):
    (tmp_path / "latin1.policy").write_bytes('policy "Grüß"\n'.encode("latin-1"))
    (tmp_path / "broken.policy").write_text('policy "x"\ntool a { risk low when }\n')
    (tmp_path / "ok.policy").write_text(CLEAN)
    r = run("fmt", tmp_path)
    assert r.exit_code == 2
    assert f"error: {tmp_path / 'latin1.policy'}: not valid UTF-8" in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "0 files reformatted, 1 unchanged, 1 with errors, 1 could not be read"
    assert run("fmt", tmp_path / "missing.policy").exit_code == 2


def test_reserved_word_as_a_name_is_refused_not_quoted(tmp_path):
    # printed back, `route allow` would become `route "allow"`, which is no route name at all
    f = tmp_path / "a.policy"
    f.write_text('policy "x"\nroute allow { approvers "a" }\n')
    r = run("fmt", f)
    assert r.exit_code == 1 and "a.policy:2:7: error[E105]: `allow` is a reserved word" in r.stderr
    assert f.read_text() == 'policy "x"\nroute allow { approvers "a" }\n'


def test_trailing_comment_of_a_one_line_block_stays_after_it(tmp_path):
    f = tmp_path / "a.policy"
    f.write_text('policy "x"\ntool a { schema {"type": "object"}  risk low }   # c\ncategory low { allow }\n')
    assert run("fmt", f).exit_code == 0
    assert f.read_text() == ('policy "x"\ntool a {\n  schema {"type": "object"}\n  risk low\n}  # c\n'
                             'category low {\n  allow\n}\n')

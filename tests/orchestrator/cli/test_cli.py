"""`remgo` command line: the parser, settings errors, the demo model step."""

import stat
import sys

from orchestrator.cli import main as cli
from orchestrator.settings import Settings


def test_serve_flags_and_plugged_commands() -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--state-dir", "s",
                              "--outputs-dir", "o", "--devices", "cuda:0,cuda:1", "--config", "c.toml"])
    assert (args.host, args.port, args.state_dir, args.outputs_dir, args.devices, args.config) == (
        "0.0.0.0", 9000, "s", "o", "cuda:0,cuda:1", "c.toml")
    assert args.func is cli.serve_command
    assert parser.parse_args(["--config", "top.toml", "serve"]).config == "top.toml"
    assert parser.parse_args(["history", "list"]).command == "history"


def test_bad_settings_exit_2_naming_the_source(monkeypatch, capsys) -> None:
    monkeypatch.setenv("REMGO_PORT", "not-a-port")
    assert cli.main(["serve"]) == 2
    assert "REMGO_PORT" in capsys.readouterr().err


def fake_worker(tmp_path):
    """A stand-in worker command that writes the file it is asked for and logs its arguments."""
    script = tmp_path / "fake-worker"
    log = tmp_path / "calls.txt"
    script.write_text(f"#!{sys.executable}\nimport sys\nopen({str(log)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
                      "open(sys.argv[-1], 'wb').write(b'demo')\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script, log


def test_demo_model_is_made_only_without_a_checkpoint(tmp_path, capsys) -> None:
    script, log = fake_worker(tmp_path)
    settings = Settings(catalog_dir=str(tmp_path / "catalog"), worker_cmd=[str(script)])
    made = cli.ensure_demo_model(settings)
    assert made == tmp_path / "catalog" / "models" / "checkpoints" / "remgo-demo-sdxl.safetensors"
    assert made.read_bytes() == b"demo"
    assert log.read_text().split() == ["--make-demo-model", str(made)]
    assert "demo model" in capsys.readouterr().out
    assert cli.ensure_demo_model(settings) is None  # a checkpoint exists now
    assert len(log.read_text().splitlines()) == 1


def test_a_failing_demo_step_is_reported(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("REMGO_CATALOG_DIR", str(tmp_path / "catalog"))
    monkeypatch.setenv("REMGO_WORKER_CMD", "false")
    monkeypatch.setenv("REMGO_STATE_DIR", str(tmp_path / "state"))
    assert cli.main(["serve"]) == 1
    assert "demo model" in capsys.readouterr().err

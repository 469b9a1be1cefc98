"""`synthconv voices`: the voice catalog; `synthconv voices download NAME`: more Piper voices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from .common import app, console, err, fail

MIRROR = "https://huggingface.co/rhasspy/piper-voices/resolve/main"  # piper's own download_voices source
VOICES_DIR_HELP = ("A folder of Piper voices (NAME.onnx + NAME.onnx.json), added to the voice catalog (repeatable; "
                   "also $SYNTHCONV_VOICES_DIR, `:`-separated; see `synthconv voices`).")
VoicesDirOpt = Annotated[list[Path], typer.Option("--voices-dir", help=VOICES_DIR_HELP)]
voices_app = typer.Typer(add_completion=False, pretty_exceptions_enable=False, invoke_without_command=True,
                         help="List the voice catalog; `download NAME` adds a Piper voice.")
app.add_typer(voices_app, name="voices")


def catalog(dirs: list[Path]):  # noqa: ANN201 - a voices.Catalog
    from ..errors import LibraryError
    from ..voices import Catalog

    try:
        return Catalog.load(dirs)
    except LibraryError as e:
        fail(str(e))


@voices_app.callback()
def voices(ctx: typer.Context, voices_dir: VoicesDirOpt = [],  # noqa: B006
           language: str | None = typer.Option(None, "--language", help="Only this language (e.g. en).")) -> None:
    """List every neural voice the offline engine can speak with, with its licence.

    espeak-ng speaks every persona that has no neural voice (Hindi today)."""
    if ctx.invoked_subcommand is not None:
        return
    cat = catalog(voices_dir)
    shown = [v for v in cat.voices.values() if language in (None, v.language)]
    table = Table(title=f"{len(shown)} neural voices (engine piper-tts, GPL-3.0-or-later); "
                        "espeak-ng (GPL-3.0-or-later) speaks the rest")
    for col in ("voice", "locale", "gender", "age", "Hz", "licence", "restricted", "source"):
        table.add_column(col, overflow="fold")
    for v in shown:
        table.add_row(escape(v.name), v.locale, v.gender or "?", v.age or "?", str(v.sample_rate), escape(v.licence),
                      "yes (below)" if v.restricted else "no", escape(v.source))
    console.print(table)
    for reason in sorted({v.restricted for v in shown if v.restricted}):
        names = [v.name for v in shown if v.restricted == reason]
        console.print(f"restricted: {', '.join(names[:3])}{f' and {len(names) - 3} more' if len(names) > 3 else ''}: "
                      f"{reason}", highlight=False, markup=False)
    if cat.server:
        console.print("openai-pipeline server voices (voices.yaml `openai`): "
                      + ", ".join(f"{v.name} ({v.gender or '?'})" for v in cat.server), highlight=False)
    for line in cat.skipped:
        err.print(f"skipped: {escape(line)}", highlight=False)


@voices_app.command()
def download(name: str = typer.Argument(..., help="A Piper voice, e.g. en_GB-vctk-medium."),
             voices_dir: Path | None = typer.Option(None, "--voices-dir", help="Where to put it "
                                                       "\\[default: $XDG_DATA_HOME/synthconv/voices]."),
             mirror: str = typer.Option(MIRROR, "--mirror", help="The piper-voices repository or a mirror of it."),
             timeout: float = typer.Option(60.0, "--timeout", help="Seconds to wait on the server.")) -> None:
    """Download a Piper voice (model, config and model card) with piper's downloader; needs internet."""
    import shutil
    import socket
    import tempfile
    import urllib.error

    from piper import download_voices

    from ..voices import user_dir

    match = download_voices.VOICE_PATTERN.match(name.strip())
    if not match:
        fail(f"voices download: {name!r} is not a Piper voice name (<language>-<name>-<quality>, "
             "e.g. en_GB-vctk-medium)")
    folder = voices_dir or user_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
    except OSError as e:
        fail(f"--voices-dir: cannot write to {folder} ({e.strerror})")
    family, region, voice, quality = (match.group(k) for k in ("lang_family", "lang_region", "voice_name",
                                                                "voice_quality"))
    base = f"{mirror.rstrip('/')}/{family}/{family}_{region}/{voice}/{quality}/"
    saved, timeout_was = download_voices.URL_FORMAT, socket.getdefaulttimeout()
    download_voices.URL_FORMAT = base + "{lang_code}-{voice_name}-{voice_quality}{extension}"
    socket.setdefaulttimeout(timeout)
    try:
        download_voices.download_voice(name.strip(), tmp)
        try:
            with download_voices.urlopen(base + "MODEL_CARD") as response, \
                    open(tmp / f"{name.strip()}.MODEL_CARD", "wb") as f:
                shutil.copyfileobj(response, f)
        except urllib.error.HTTPError:
            pass  # no card: the catalog says the licence is unknown
        for done in sorted(tmp.iterdir()):  # only complete files reach the folder
            done.replace(folder / done.name)
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        err.print(f"[bold red]error:[/] voices download: could not fetch {escape(name)} from {escape(base)} "
                  f"({escape(str(reason))}); without internet, copy NAME.onnx and NAME.onnx.json into a folder "
                  "and give it with --voices-dir", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        download_voices.URL_FORMAT = saved
        socket.setdefaulttimeout(timeout_was)
        shutil.rmtree(tmp, ignore_errors=True)
    console.print(f"{name} is in {folder}", highlight=False)

"""The run folder contract (docs/FORMAT.md): everything that writes or reads a run goes through here.

- schema.py: the records (transcript line, word span, meta.json, conversations.jsonl line);
- names.py: ids that become paths, and the folders they name (never through a link);
- run.py: run.json and run.log; lock.py: one writer per run; disk.py: whole-or-nothing writes;
- index.py: conversations.jsonl;
- conversation.py: one conversation's folder, complete or failed;
- audio.py: its WAV tracks and MP3 mixes (mono, stereo), and what counts as silence;
- spoken.py: a turn's text in spoken form (the transcript's `spoken`).
"""

from ..errors import RunFolderError
from .audio import SILENT, loud, mix_mp3, mp3_duration, read_wav, stereo_mp3, write_wav
from .conversation import (
           LAG_LIMIT_S,
           read_error,
           read_lines,
           read_meta,
           read_transcript,
           write_conversation,
           write_error,
)
from .disk import DISK_ERRORS, disk_problem, finite, replace_atomic
from .index import completed, read_index, write_index
from .lock import RunLock
from .names import JOB_ID, NAME, conversation_dir, no_links, tmp_dir
from .run import RunLog, check_job, now, read_run_info, versions, write_run_info
from .schema import ConversationMeta, IndexLine, SchemaError, TranscriptLine, WordSpan

__all__ = ["DISK_ERRORS", "JOB_ID", "LAG_LIMIT_S", "NAME", "SILENT", "ConversationMeta", "IndexLine", "RunFolderError", "RunLock",
           "RunLog", "SchemaError", "TranscriptLine", "WordSpan", "check_job", "completed", "conversation_dir",
           "disk_problem", "finite", "loud", "mix_mp3", "mp3_duration", "no_links", "now", "read_error", "read_index",
           "read_lines", "read_meta", "read_run_info", "read_transcript", "read_wav", "replace_atomic", "stereo_mp3",
           "tmp_dir", "versions", "write_conversation", "write_error", "write_index", "write_run_info", "write_wav"]

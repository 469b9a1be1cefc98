"""The run folder contract (docs/FORMAT.md): everything that writes or reads a run goes through here.

- guards.py: names that become paths, one writer at a time (RunLock), a checked run.json;
- run.py: run.json and run.log;
- index.py: conversations.jsonl and its `ConversationResult` lines;
- conversation.py: one conversation's folder, complete or failed;
- audio.py: its WAV tracks and MP3 mixes (mono, stereo), and what counts as silence;
- spoken.py: a turn's text in spoken form (the transcript's `spoken`).
"""

from .audio import SILENT, loud, mix_mp3, mp3_duration, read_wav, stereo_mp3, write_wav
from .conversation import (LAG_LIMIT_S, TURN_FIELDS, read_error, read_lines, read_meta, read_transcript, write_conversation,
                           write_error)
from .guards import (DISK_ERRORS, JOB_ID, NAME, RunLock, check_job, conversation_dir, disk_problem, finite,
                     read_run_info, replace_atomic, tmp_dir)
from .index import ConversationResult, completed, read_index, write_index
from .run import RunLog, now, versions, write_run_info
from ..errors import RunFolderError

__all__ = ["DISK_ERRORS", "JOB_ID", "LAG_LIMIT_S", "NAME", "SILENT", "TURN_FIELDS", "ConversationResult", "RunFolderError", "RunLock",
           "RunLog", "check_job", "completed", "conversation_dir", "disk_problem", "finite", "loud", "mix_mp3",
           "mp3_duration", "now", "stereo_mp3", "read_error", "read_index", "read_lines", "read_meta", "read_run_info", "read_transcript",
           "read_wav", "replace_atomic", "tmp_dir", "versions", "write_conversation", "write_error", "write_index",
           "write_run_info", "write_wav"]

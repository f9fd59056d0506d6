from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reprobook.burstgpt import traces
from reprobook.core.errors import DataError

V1 = ("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "5,ChatGPT,472,18,490,Conversation log\n3,GPT-4,1000,0,1000,API log\n"
      "3,ChatGPT,20,30,50,API log\n")
V3 = ("Timestamp,Session ID,Elapsed time,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
      "0,17,1.5,GPT-4,10,20,30,API log\n2,18,0.4,ChatGPT,5,0,5,Conversation log\n")
AZURE = ("TIMESTAMP,ContextTokens,GeneratedTokens\n"
         "2023-11-16 18:17:03.9799600,4808,10\n2023-11-16 18:17:04.0319600,3180,8\n")


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_burstgpt_v1_and_v3_read_by_name(tmp_path):
    v1 = traces.load_burstgpt(write(tmp_path, "BurstGPT_1.csv", V1))
    assert list(v1.columns) == traces.COLUMNS
    assert list(v1["time"]) == [0.0, 0.0, 2.0]  # sorted (stable), from 0
    assert list(v1["log_type"]) == ["API", "API", "Conversation"]
    assert v1["failed"].tolist() == [True, False, False]
    v3 = traces.load_burstgpt(write(tmp_path, "BurstGPT_3.csv", V3))
    assert v3.loc[0, "model"] == "GPT-4" and v3.loc[1, "failed"]


def test_azure_schema(tmp_path):
    df = traces.load_azure(write(tmp_path, "a.csv", AZURE), "code")
    assert df["time"].tolist() == pytest.approx([0.0, 0.052])
    assert df.attrs["start"].startswith("2023-11-16 18:17:03.97996")
    assert df["request_tokens"].tolist() == [4808, 3180] and not df["failed"].any()


@pytest.mark.parametrize("text,match", [
    (V1.replace("Request tokens", "Prompt"), r"missing column\(s\) \['Request tokens'\]"),
    (V1.replace("472", "abc"), r"'Request tokens' has 1 missing, non-numeric.* line\(s\) \[2\]"),
    (V1.replace("Conversation log", "Chat log"), "unknown value"),
    (V1.replace("\n5,", "\nfive,"), r"'Timestamp' has 1 missing, non-numeric.*line\(s\) \[2\]"),
    (V1.replace("\n3,GPT-4", "\ninf,GPT-4"), r"'Timestamp' has 1 .*infinite.*line\(s\) \[3\]"),
    (V1.replace("472,18", "47.9,18"), r"'Request tokens' has 1 value\(s\) that are not whole .*\[2\]"),
    (V1.replace("3,GPT-4,", "3,,"), r"column 'Model' is empty in 1 row\(s\) \(first at line\(s\) \[3\]\)"),
    (V1.replace("API log\n3,", "API log,extra\n3,"), r"malformed row: .*Expected 6 fields in line 3, saw 7"),
    (V1.splitlines()[0] + "\n", "no rows"),
    ("", "empty file"),
])
def test_malformed_burstgpt_files(tmp_path, text, match):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(DataError, match=match) as e:
        traces.load_burstgpt(path)
    assert "bad.csv" in str(e.value)


def test_empty_input_to_windowed_fits_and_replay_is_a_clear_error():
    from reprobook.burstgpt import fitting, generator

    with pytest.raises(ValueError, match="at least 2 arrival times, got 0"):
        fitting.windowed_gamma(np.array([]), 60.0)
    with pytest.raises(ValueError, match="empty trace"):
        generator.replay(np.array([]))


def test_malformed_azure_timestamp(tmp_path):
    path = write(tmp_path, "a.csv", AZURE.replace("2023-11-16 18:17:04", "yesterday"))
    with pytest.raises(DataError, match="'TIMESTAMP' has 1 unparseable value.*line 3"):
        traces.load_azure(path, "conv")


def test_real_azure_trace_through_the_data_layer():
    mirror_ok = traces.azure_traces() if _mirror() else pytest.skip("no data mirror here")
    assert len(mirror_ok["code"]) == 8819 and len(mirror_ok["conv"]) == 19366
    assert np.all(np.diff(mirror_ok["conv"]["time"]) >= 0)
    with pytest.raises(DataError, match="unknown Azure service"):
        traces.azure_trace("chat")


def _mirror() -> bool:
    import os

    from reprobook.core.data import MIRROR_ENV

    m = os.environ.get(MIRROR_ENV)
    return bool(m) and (Path(m) / "azure-llm-inference-2023").is_dir()

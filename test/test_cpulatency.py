"""The PM QoS CPU latency request that `asym-control launch --cpu-latency-us` holds."""

from __future__ import annotations

import os
import struct

import pytest

from asym_control.deploy.cpulatency import PATH, CpuLatencyError, CpuLatencyRequest, current

writable = os.access(PATH, os.W_OK)


def test_the_request_is_the_kernel_s_four_byte_integer(tmp_path):
    f = tmp_path / "qos"
    f.write_bytes(b"")
    with CpuLatencyRequest(7, path=str(f)) as r:
        assert r.microseconds == 7
    assert f.read_bytes() == struct.pack("i", 7)


@pytest.mark.parametrize("value", [-1, 1.5, True, "0"])
def test_a_bad_latency_is_refused(value, tmp_path):
    with pytest.raises(CpuLatencyError, match="whole number of microseconds"):
        CpuLatencyRequest(value, path=str(tmp_path / "never-opened"))


def test_where_the_request_cannot_be_made_the_error_says_why(tmp_path):
    with pytest.raises(CpuLatencyError, match="does not exist"):
        CpuLatencyRequest(0, path=str(tmp_path / "missing"))
    with pytest.raises(CpuLatencyError, match="cannot open"):
        CpuLatencyRequest(0, path=str(tmp_path))          # a directory


@pytest.mark.skipif(not writable, reason=f"{PATH} is writable only by root here")
def test_the_kernel_holds_the_cpus_to_the_request_while_it_is_open():
    before = current()
    request = CpuLatencyRequest(0)
    try:
        assert current() == 0
    finally:
        request.close()
    assert current() == before

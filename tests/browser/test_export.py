"""Exports in Chromium: figures as PNG and SVG as the browser drew them, the report and tables as files."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

pytestmark = pytest.mark.browser


def test_each_export_is_a_click_or_two_and_opens(dashboard, artifacts):
    page = dashboard
    page.get_by_text("Export: figures, report JSON, CSV tables").click()
    page.locator(".mlprec-export-json").wait_for(timeout=30_000)
    saved = {}
    for kind, button, selector in (
        ("png", None, ".mlprec-export-png"),
        ("svg", None, ".mlprec-export-svg"),
        ("json", ".mlprec-export-json", ".mlprec-export-json-file"),  # prepared on demand, then downloaded
        ("zip", ".mlprec-export-csv", ".mlprec-export-csv-file"),
    ):
        if button:
            page.locator(button).click()
            page.locator(selector).wait_for(timeout=30_000)
        with page.expect_download(timeout=30_000) as info:
            page.locator(selector).click()
        download = info.value
        path = artifacts / download.suggested_filename
        download.save_as(path)
        saved[kind] = path
    assert saved["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and saved["png"].stat().st_size > 5_000
    assert saved["png"].name.startswith("mlprec-") and "part-1" in saved["png"].name
    svg = saved["svg"].read_text()
    assert svg.startswith("<svg") and "Text A (mlp_out" in svg and svg.count("heatmapcell") > 100
    report = json.loads(saved["json"].read_text())
    assert report["format"] == 2 and report["layer"] == 3 and len(report["per_layer"]) == 4
    tables = zipfile.ZipFile(io.BytesIO(saved["zip"].read_bytes()))
    assert "part5.csv" in tables.namelist()

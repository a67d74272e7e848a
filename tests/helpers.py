"""Constants and small helpers the tests share."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "seeds" / "jishujingji-2024-new-quality-productive-forces-symposium.txt"
GOLD = Path(__file__).resolve().parent / "gold" / "questions.jsonl"
DATA = Path(__file__).resolve().parent / "data"
SPEAKERS = ["编者按", "吕薇", "金碚", "李平", "王蕴", "任保平", "张辉", "盛朝迅", "李开孟"]

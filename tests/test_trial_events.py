"""Trial events: an append-only file of hints that a trial's record changed, never a reason to fail."""

import multiprocessing

from agenthpo.trial_events import EVENTS_ENV, TrialEvents, announce


def test_nothing_is_written_without_the_variable(tmp_path, monkeypatch):
    monkeypatch.delenv(EVENTS_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    announce("run-1", "finished")
    assert list(tmp_path.iterdir()) == []


def test_a_reader_sees_each_batch_of_announcements_once(tmp_path, monkeypatch):
    path = tmp_path / "events"
    monkeypatch.setenv(EVENTS_ENV, str(path))
    events = TrialEvents(path)
    assert not events.changed()  # no file yet
    announce("run-1", "finished")
    assert events.changed()
    assert not events.changed()
    announce("run-1", "analysed")
    announce("run-2", "failed")
    assert events.changed() and not events.changed()
    assert path.read_text() == "run-1 finished\nrun-1 analysed\nrun-2 failed\n"


def test_a_reader_started_late_does_not_see_old_announcements(tmp_path, monkeypatch):
    path = tmp_path / "events"
    monkeypatch.setenv(EVENTS_ENV, str(path))
    announce("run-1", "finished")
    assert not TrialEvents(path).changed()


def _announce_many(path: str, tag: str) -> None:
    import os

    os.environ[EVENTS_ENV] = path
    for i in range(200):
        announce(f"{tag}-{i}", "finished")


def test_lines_from_several_processes_land_whole(tmp_path):
    path = str(tmp_path / "events")
    processes = [multiprocessing.get_context("fork").Process(target=_announce_many, args=(path, tag))
                 for tag in ("a", "b", "c")]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    lines = (tmp_path / "events").read_text().splitlines()
    assert sorted(lines) == sorted(f"{tag}-{i} finished" for tag in "abc" for i in range(200))


def test_an_unwritable_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv(EVENTS_ENV, str(tmp_path / "missing-folder" / "events"))
    announce("run-1", "finished")  # no folder: the hint is lost, nothing raises
    assert not (tmp_path / "missing-folder").exists()

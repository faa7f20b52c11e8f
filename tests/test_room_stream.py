"""A busy room's batching window follows the measured cost of writing to its members."""
import pytest

from realtime import room_stream
from realtime.room_stream import BATCH_WINDOW, DUTY, MIN_WINDOW, RoomStream


def window(stream: RoomStream, members: int) -> float:
    stream.last_write = 0.0
    return stream.due(members, BATCH_WINDOW)


def settle(stream: RoomStream, members: int, per_write: float, times: int = 40) -> None:
    for _ in range(times):
        stream.wrote(members, members * per_write)


def test_a_new_room_starts_from_the_build_machines_cost():
    stream = RoomStream()
    assert window(stream, 2000) == pytest.approx(2000 * room_stream.WRITE_COST * DUTY)
    assert window(stream, 10) == MIN_WINDOW


def test_cheap_writes_shorten_the_window_and_dear_ones_lengthen_it_up_to_the_cap():
    stream = RoomStream()
    settle(stream, 4500, 3e-6)
    assert window(stream, 4500) == pytest.approx(4500 * 3e-6 * DUTY, rel=0.01)
    assert window(stream, 4500) < 4500 * room_stream.WRITE_COST * DUTY / 2
    settle(stream, 4500, 20e-6)
    assert window(stream, 2000) == pytest.approx(2000 * 20e-6 * DUTY, rel=0.01)
    assert window(stream, 4500) == pytest.approx(4500 * 20e-6 * DUTY, rel=0.01)
    settle(stream, 4500, 80e-6)
    assert window(stream, 4500) == BATCH_WINDOW   # never longer than the cap
    settle(stream, 4500, 1e-9)
    assert window(stream, 4500) == MIN_WINDOW     # never shorter than the floor


def test_one_slow_window_moves_the_cost_only_part_of_the_way():
    stream = RoomStream()
    settle(stream, 1000, 4e-6)
    stream.wrote(1000, 1000 * 400e-6)   # one write stalled (the process was preempted)
    assert stream.write_cost < 110e-6
    settle(stream, 1000, 4e-6, times=30)
    assert stream.write_cost == pytest.approx(4e-6, rel=0.05)


def test_small_rooms_are_not_timed():
    stream = RoomStream()
    stream.wrote(room_stream.MEASURE_FROM - 1, 1.0)
    assert stream.write_cost == room_stream.WRITE_COST

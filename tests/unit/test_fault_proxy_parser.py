"""The fault proxy's RESP framing (tests/fault_proxy.py): a wrong split would pair
replies with the wrong commands and put faults in the wrong place."""

from __future__ import annotations

import pytest

from ..fault_proxy import Incomplete, _command, _skip

REPLIES = [
    b"+OK\r\n",
    b"-ERR no such index\r\n",
    b":42\r\n",
    b"$5\r\nhello\r\n",
    b"$-1\r\n",
    b"*-1\r\n",
    b"*2\r\n$1\r\na\r\n*1\r\n:1\r\n",
    b"%1\r\n+key\r\n*2\r\n:1\r\n$4\r\nx\r\ny\r\n",  # a bulk string may hold CRLF
    b"~2\r\n+a\r\n+b\r\n",
    b"_\r\n",
    b",3.14\r\n",
    b"#t\r\n",
    b"=8\r\ntxt:abcd\r\n",
    b"|1\r\n+ttl\r\n:3\r\n$2\r\nok\r\n",  # an attribute, then the value it annotates
]


@pytest.mark.parametrize("reply", REPLIES)
def test_each_reply_is_one_value_and_a_prefix_is_incomplete(reply):
    stream = reply + b"+NEXT\r\n"
    assert _skip(stream, 0) == len(reply)
    for cut in range(len(reply)):
        with pytest.raises(Incomplete):
            _skip(reply[:cut], 0)


def test_pipelined_commands_split_in_order():
    one = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\nv\r\nx\r\n"
    two = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    stream = one + two
    args, end = _command(stream, 0)
    assert args == [b"SET", b"k", b"v\r\nx"] and end == len(one)
    args, end = _command(stream, end)
    assert args == [b"GET", b"k"] and end == len(stream)
    with pytest.raises(Incomplete):
        _command(two[:-1], 0)

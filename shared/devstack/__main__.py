"""`make run`: the whole platform on this machine until Ctrl-C (see shared/devstack/stack.py)."""

from __future__ import annotations

import signal
import sys
import time
from types import FrameType

from shared.devstack.stack import Stack


class Interrupted(BaseException):
    pass


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signum)


BANNER = """
调度 Tiaodu 已启动
  入口地址 (base URL):  {base}
  接口文档 (Swagger):   {base}/docs
  演示令牌 (tokens):    {demo}
  日志 (logs):          {logs}
  演示接收端 (receiver): {receiver}  (Webhook 与电子邮件的投递在此可见)
按 Ctrl-C 停止。
"""


def main() -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    stack = Stack()
    try:
        stack.start()
        receiver = stack.receiver.child.url if stack.receiver else "(未启动)"
        print(BANNER.format(base=stack.base_url, demo=stack.demo_file, logs=stack.logs_dir, receiver=receiver),
              flush=True)  # fmt: skip
        while True:
            time.sleep(0.5)
            stack.check()
    except Interrupted:
        print("正在停止…", flush=True)
        code = 0
    except Exception as exc:  # StackError carries the log tail; anything else is reported the same way
        print(f"启动或运行失败: {exc}", file=sys.stderr, flush=True)
        code = 1
    for signum in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the shutdown short
        signal.signal(signum, signal.SIG_IGN)
    stack.stop()
    return code


if __name__ == "__main__":
    sys.exit(main())

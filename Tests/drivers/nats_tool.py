#!/usr/bin/env python3
"""A NATS peer for the tests, on nats-py (PyPI's nats-py, installed by scripts/install-deps).

  nats_tool.py URL add-stream NAME SUBJECT [REPLICAS]   create a stream (file storage)
  nats_tool.py URL publish SUBJECT PAYLOAD [COUNT]      publish PAYLOAD through JetStream
  nats_tool.py URL stream-count NAME                    print the stream's message count
  nats_tool.py URL consumer-pending NAME DURABLE        print "num_pending num_ack_pending"
"""
import asyncio
import sys

import nats
from nats.js.api import StreamConfig, StorageType


async def main(url, command, args):
    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=5)
    js = nc.jetstream(timeout=10)
    try:
        if command == "add-stream":
            replicas = int(args[2]) if len(args) > 2 else 1
            await js.add_stream(StreamConfig(name=args[0], subjects=[args[1]], storage=StorageType.FILE, num_replicas=replicas))
        elif command == "publish":
            count = int(args[2]) if len(args) > 2 else 1
            for _ in range(count):
                await js.publish(args[0], args[1].encode())
        elif command == "stream-count":
            info = await js.stream_info(args[0])
            print(info.state.messages)
        elif command == "consumer-pending":
            info = await js.consumer_info(args[0], args[1])
            print(info.num_pending, info.num_ack_pending)
        else:
            raise SystemExit("unknown command " + command)
    finally:
        await nc.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3:]))

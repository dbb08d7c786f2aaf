"""The `slow` marker for tests/data (tests of the real datasets in ../shared); registered here too so that it is
known however these tests are collected."""


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: reads real datasets or runs for more than a few seconds")

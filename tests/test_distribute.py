"""TF_CONFIG reading: which process is the chief that writes the run directory."""

from __future__ import annotations

import json

import pytest

from crossmodal_tf.distribute import local_tf_configs, read_cluster
from crossmodal_tf.errors import CmxError


def tf_config(cluster: dict, task_type: str, index: int) -> dict:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_worker_0_is_the_chief_when_there_is_no_chief_job():
    cluster = {"worker": ["a:1", "b:1", "c:1"]}
    chiefs = [read_cluster("multi_worker", tf_config(cluster, "worker", i)).is_chief for i in range(3)]
    assert chiefs == [True, False, False]
    assert read_cluster("multi_worker", tf_config(cluster, "worker", 2)).num_workers == 3


def test_the_chief_job_is_the_chief_when_there_is_one():
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert read_cluster("multi_worker", tf_config(cluster, "chief", 0)).is_chief
    assert not read_cluster("multi_worker", tf_config(cluster, "worker", 0)).is_chief
    assert read_cluster("multi_worker", tf_config(cluster, "worker", 1)).num_workers == 3


def test_other_strategies_ignore_tf_config():
    assert read_cluster("auto", {"TF_CONFIG": "not json"}) is None
    with pytest.raises(CmxError, match="TF_CONFIG"):
        read_cluster("multi_worker", {})


def test_local_tf_configs_describe_one_cluster_on_free_ports():
    configs = [json.loads(c) for c in local_tf_configs(2)]
    assert configs[0]["cluster"] == configs[1]["cluster"] and [c["task"]["index"] for c in configs] == [0, 1]
    workers = configs[0]["cluster"]["worker"]
    assert len(set(workers)) == 2 and all(w.startswith("127.0.0.1:") for w in workers)

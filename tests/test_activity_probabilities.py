"""P(alive) against the lifecycle stages on CDNOW: the retention page's chart shows repeat customers'
P(alive) (BG/NBD gives every one-time buyer 100%, so they are shown apart), and on them the share the
model calls probably inactive is of the same order as the share the stage rules call churned."""

from __future__ import annotations

import yaml

import clc_lib as clc
from clc_lib.paths import project_root


def test_p_alive_of_repeat_customers_agrees_with_the_churned_stage_on_cdnow(cdnow_dir, tmp_path):
    config = yaml.safe_load((project_root() / "docs" / "examples" / "cdnow.yaml").read_text())
    config["transactions"]["path"] = str(cdnow_dir / "CDNOW_master.txt")
    run = clc.load_run(config)
    scores = clc.predict_run_value(run)
    x = run.summary()["x"].reindex(scores.index)
    stage = run.stages()["stage"].astype(str).reindex(scores.index)
    one_time = x.eq(0)
    # the reason one-time buyers are shown apart: BG/NBD puts all of them at 100%
    assert run.config.clv.model == "bgnbd"
    assert scores.loc[one_time, "p_alive"].min() > 0.999
    repeat = ~one_time
    probably_inactive = float((scores.loc[repeat, "p_alive"] < 0.5).mean())
    churned = float((stage[repeat] == "churned").mean())
    assert 0.5 < probably_inactive / churned < 2, (probably_inactive, churned)

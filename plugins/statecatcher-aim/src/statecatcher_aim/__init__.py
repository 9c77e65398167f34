"""statecatcher plugin: the ``aim`` tracker (entry-point module: registers names only, imports no aim)."""

from statecatcher import hookimpl


@hookimpl
def register_trackers(register):
    register("aim", "statecatcher_aim.tracker:AimTracker",
             description="Aim repo (`aim up`): hyper-parameters, loss, lr, throughput, state norms per layer, WER",
             options={"repo": "folder holding the Aim repository (.aim); `aim up --repo` on the same folder",
                      "experiment": "Aim experiment to file the run under (default: Aim's 'default')"})

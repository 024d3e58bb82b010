"""Learning-algorithm cloning: backprop implemented in the forward dynamics of VSML.

Paper Sec. 3.2 / 4.1, Appendix B.1 and C.1 (Figs. 5, 10, 11).  The authors' published code
does not contain this part; the design choices below are ours and are listed in
docs/cloning.md.  In short:

* **Designated entries.**  Each synapse (a, b) is one VSML sub-LSTM (``model.sub_lstm``,
  N = 64, messages of 8).  Input x is entry 0 of the forward message into row a, error e is
  entry 0 of the backward message into column b; the prediction y^ is entry 0 of the
  outgoing forward message, the outgoing error e^' entry 0 of the outgoing backward message.
  All other message entries are zero (App. C.1).
* **Weights in the state.**  w := 4 * c[0], b := 4 * c[1] (LSTM cell state, scaled down by
  ``STATE_SCALE`` = 4, App. C.1).
* **The cloned algorithm** (one tick = ``micro_ticks`` LSTM steps with the same inputs)::

      y^   = gain * (tanh(x) * w + b)                       (forward message)
      e^'  = gain * e * w * (1 - tanh(x)^2)                 (backward message)
      w'   = clip(w - alpha * e * tanh(x), -w_max, w_max)   (state)
      b'   = clip(b - alpha * e,           -w_max, w_max)

  Since VSML *averages* the
  messages over a layer's rows / columns, the network this implements is the "mean
  network" y_b = gain * mean_a(tanh(x_a) w_ab + b_ab); the rule above is exactly its
  backprop up to a per-layer constant learning rate (see ``shadow_update``).  ``gain``
  compensates for averaging over 784 inputs with weights bounded by |w| <= 4.
* **State handling** (App. C.1, ``CloneConfig.retain_wb_only``): the state is frozen during
  the forward sweep and only (w, b) survive a backward tick (h and the other c dimensions
  are zeroed), so every tick starts from a state like those the clone was trained on.
* **Cloning** regresses y^, w' - w, b' - b and e^' on their targets with optax Adam, on
  states drawn from a buffer of states the clone itself produced (App. C.1), inputs (x, e)
  from random draws and from "shadow" networks trained by this rule on MNIST, and (deep
  curriculum, App. B.1) from rollouts of the VSML network itself.
* **Meta-test** (``run_learning``): per step, a forward sweep 1..K (errors zero), the
  prediction, then a backward sweep K..1 with the stored inputs fed back, over a batch whose
  first state halves are averaged (``model.merge_batch_states``), states clipped to [-4, 4].
  Carrying the whole state (``retain_wb_only=False``), one layer of ``ClonedBackprop.step``
  equals ``model.VSML.step`` with ``reverse_sweep=True`` (tested).  No gradients are
  computed at meta-test time.

Modules, in dependency order: ``rule`` (the cloned rule, the synapse, designated entries),
``network`` (the cloned learner unrolled over a dataset), ``shadow`` (mean networks trained
by the rule: inputs for cloning, the regular-SGD baseline), ``forward`` (Fig. 10),
``backprop`` (backprop cloning and the deep curriculum), ``params`` (files), ``presets``
(scales and config/cloning.yaml), ``evaluate`` (evaluation and tables), ``figures``,
``cli`` (the ``vsml clone-*`` commands).  The names below are the package's API.
"""
from vsml.cloning.backprop import (
    Buffer,
    Mixture,
    Stage,
    clone_errors,
    clone_loss,
    clone_step,
    curriculum,
    fresh_states,
    make_clone_step,
    random_inputs,
    rollout_samples,
    train_backprop,
)
from vsml.cloning.cli import main, register
from vsml.cloning.evaluate import (
    TABLE_COLUMNS,
    accuracy_table,
    clones_table,
    evaluate,
    fig5_rows,
    forward_table,
    read_eval_summaries,
)
from vsml.cloning.forward import forward_predict, forward_state, forward_target, train_forward
from vsml.cloning.network import (
    ClonedBackprop,
    LearningCurve,
    backward_sweep,
    clip_state,
    cloned_accuracy,
    forward_sweep,
    init_network_state,
    layer_sizes,
    network_weights,
    predict,
    run_learning,
)
from vsml.cloning.params import config_from_meta, load_params, provenance, save_params, write_csv
from vsml.cloning.presets import (
    PRESETS,
    Preset,
    pipeline_args,
    pipeline_settings,
    preset,
    preset_from_args,
)
from vsml.cloning.rule import (
    CloneConfig,
    Targets,
    TrainSettings,
    forward_backward,
    init_params,
    read_wb,
    retain_wb,
    rule,
    synapse_tick,
    write_wb,
)
from vsml.cloning.shadow import (
    dataset_arrays,
    run_shadow_sgd,
    shadow_accuracy,
    shadow_example,
    shadow_forward,
    shadow_init,
    shadow_table,
    shadow_tuples,
    shadow_update,
)

__all__ = [
    "accuracy_table",
    "backward_sweep",
    "Buffer",
    "clip_state",
    "clone_errors",
    "clone_loss",
    "clone_step",
    "CloneConfig",
    "cloned_accuracy",
    "ClonedBackprop",
    "clones_table",
    "config_from_meta",
    "curriculum",
    "dataset_arrays",
    "evaluate",
    "fig5_rows",
    "forward_backward",
    "forward_predict",
    "forward_state",
    "forward_sweep",
    "forward_table",
    "forward_target",
    "fresh_states",
    "init_network_state",
    "init_params",
    "layer_sizes",
    "LearningCurve",
    "load_params",
    "main",
    "make_clone_step",
    "Mixture",
    "network_weights",
    "pipeline_args",
    "pipeline_settings",
    "predict",
    "Preset",
    "preset",
    "preset_from_args",
    "PRESETS",
    "provenance",
    "random_inputs",
    "read_eval_summaries",
    "read_wb",
    "register",
    "retain_wb",
    "rollout_samples",
    "rule",
    "run_learning",
    "run_shadow_sgd",
    "save_params",
    "shadow_accuracy",
    "shadow_example",
    "shadow_forward",
    "shadow_init",
    "shadow_table",
    "shadow_tuples",
    "shadow_update",
    "Stage",
    "synapse_tick",
    "TABLE_COLUMNS",
    "Targets",
    "train_backprop",
    "train_forward",
    "TrainSettings",
    "write_csv",
    "write_wb",
]

"""Meta-training (ES and gradient descent: sharded, chunked, resumable), meta-testing, their
configs and checkpoints."""

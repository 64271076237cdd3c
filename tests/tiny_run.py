"""The smallest ``memorax train`` run of the tests: three logging intervals of 64 steps, networks 16 wide."""

TINY = [
    "--total-steps", "192", "--log-every", "64", "--eval-episodes", "4",
    "--encoder.features", "16", "--torso.hidden", "16",
    "--ppo.num-envs", "4", "--ppo.num-steps", "16", "--ppo.num-minibatches", "2",
]  # fmt: skip

"""JAX re-implementations of the POPGym memory tasks (Morad et al. 2023, arXiv:2303.01859).

Observations are POPGym's discrete observations as (concatenated) one-hot
float vectors, so they feed a network directly; MineSweeper's and
Battleship's ``MultiDiscrete([rows, cols])`` actions are flattened to
``Discrete(rows * cols)``. Dynamics, episode lengths and reward scales follow
POPGym 1.0.7 and are checked against it in tests/test_popgym_reference.py.
"""

from memorax.environments.popgym.autoencode import Autoencode
from memorax.environments.popgym.battleship import Battleship
from memorax.environments.popgym.concentration import Concentration
from memorax.environments.popgym.count_recall import CountRecall
from memorax.environments.popgym.higher_lower import HigherLower
from memorax.environments.popgym.labyrinth_escape import LabyrinthEscape
from memorax.environments.popgym.labyrinth_explore import LabyrinthExplore
from memorax.environments.popgym.minesweeper import MineSweeper
from memorax.environments.popgym.multiarmed_bandit import MultiarmedBandit
from memorax.environments.popgym.position_only_pendulum import PositionOnlyPendulum
from memorax.environments.popgym.repeat_first import RepeatFirst
from memorax.environments.popgym.repeat_previous import RepeatPrevious
from memorax.environments.popgym.stateless_cartpole import StatelessCartPole, VelocityOnlyCartPole

LEVELS = {
    "RepeatPrevious": {"Easy": dict(num_decks=1, k=4), "Medium": dict(num_decks=2, k=32), "Hard": dict(num_decks=3, k=64)},
    "RepeatFirst": {"Easy": dict(num_decks=1), "Medium": dict(num_decks=8), "Hard": dict(num_decks=16)},
    "CountRecall": {
        "Easy": dict(num_decks=1, deck_type="colors"),
        "Medium": dict(num_decks=2, deck_type="suits"),
        "Hard": dict(num_decks=4, deck_type="ranks"),
    },
    "Autoencode": {"Easy": dict(num_decks=1), "Medium": dict(num_decks=2), "Hard": dict(num_decks=3)},
    "StatelessCartPole": {"Easy": dict(max_steps=200), "Medium": dict(max_steps=400), "Hard": dict(max_steps=600)},
    "NoisyStatelessCartPole": {
        "Easy": dict(noise_std=0.1),
        "Medium": dict(noise_std=0.2),
        "Hard": dict(noise_std=0.3),
    },
    "VelocityOnlyCartPole": {"Easy": dict(max_steps=200), "Medium": dict(max_steps=400), "Hard": dict(max_steps=600)},
    "PositionOnlyPendulum": {"Easy": dict(max_steps=200), "Medium": dict(max_steps=150), "Hard": dict(max_steps=100)},
    "NoisyPositionOnlyPendulum": {
        "Easy": dict(noise_std=0.1),
        "Medium": dict(noise_std=0.2),
        "Hard": dict(noise_std=0.3),
    },
    "MineSweeper": {
        "Easy": dict(rows=4, cols=4, num_mines=2),
        "Medium": dict(rows=6, cols=6, num_mines=6),
        "Hard": dict(rows=8, cols=8, num_mines=10),
    },
    "Battleship": {"Easy": dict(size=8), "Medium": dict(size=10), "Hard": dict(size=12)},
    "HigherLower": {"Easy": dict(num_decks=1), "Medium": dict(num_decks=2), "Hard": dict(num_decks=3)},
    "MultiarmedBandit": {
        "Easy": dict(num_bandits=10, episode_length=200),
        "Medium": dict(num_bandits=20, episode_length=400),
        "Hard": dict(num_bandits=30, episode_length=600),
    },
    "LabyrinthEscape": {"Easy": dict(size=10), "Medium": dict(size=14), "Hard": dict(size=18)},
    "LabyrinthExplore": {"Easy": dict(size=10), "Medium": dict(size=14), "Hard": dict(size=18)},
    "Concentration": {
        "Easy": dict(num_decks=1, deck_type="colors"),
        "Medium": dict(num_decks=2, deck_type="colors"),
        "Hard": dict(num_decks=1, deck_type="ranks"),
    },
}

# POPGym's names of tasks that are here under other names.
ALIASES = {"PositionOnlyCartPole": "StatelessCartPole", "NoisyPositionOnlyCartPole": "NoisyStatelessCartPole"}

TASKS = {
    "RepeatPrevious": RepeatPrevious,
    "RepeatFirst": RepeatFirst,
    "CountRecall": CountRecall,
    "Autoencode": Autoencode,
    "StatelessCartPole": StatelessCartPole,
    "NoisyStatelessCartPole": StatelessCartPole,
    "VelocityOnlyCartPole": VelocityOnlyCartPole,
    "PositionOnlyPendulum": PositionOnlyPendulum,
    "NoisyPositionOnlyPendulum": PositionOnlyPendulum,
    "MineSweeper": MineSweeper,
    "Battleship": Battleship,
    "HigherLower": HigherLower,
    "MultiarmedBandit": MultiarmedBandit,
    "Concentration": Concentration,
    "LabyrinthEscape": LabyrinthEscape,
    "LabyrinthExplore": LabyrinthExplore,
}

__all__ = [
    "ALIASES",
    "LEVELS",
    "TASKS",
    "Autoencode",
    "Concentration",
    "Battleship",
    "CountRecall",
    "HigherLower",
    "LabyrinthEscape",
    "LabyrinthExplore",
    "MineSweeper",
    "MultiarmedBandit",
    "PositionOnlyPendulum",
    "RepeatFirst",
    "RepeatPrevious",
    "StatelessCartPole",
    "VelocityOnlyCartPole",
]

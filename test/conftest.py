import os
import warnings

# the MuJoCo gymnasium envs import glfw, which warns without a display; the tests need none
os.environ.setdefault("MUJOCO_GL", "egl")
warnings.filterwarnings("ignore", message=".*DISPLAY.*")

import os
import warnings

# the MuJoCo gymnasium envs import glfw, which warns without a display; the tests need none
os.environ.setdefault("MUJOCO_GL", "egl")
warnings.filterwarnings("ignore", message=".*DISPLAY.*")
# every test process on its own DDS domain, so parallel test runs (and anything else running
# ROS 2 on this machine) never hear each other; child processes inherit it
os.environ["ROS_DOMAIN_ID"] = str(20 + os.getpid() % 200)

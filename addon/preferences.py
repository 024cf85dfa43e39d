"""Add-on preferences: how to reach the engine, and the optional LLM endpoint for layout and dialogue."""

import bpy
from bpy.props import EnumProperty, StringProperty

DEFAULT_URL = "http://127.0.0.1:8417"


def get(context=None):
    """This add-on's preferences (the package name is the extension's, e.g. bl_ext.user_default.duet)."""
    context = context or bpy.context
    return context.preferences.addons[__package__].preferences


class DuetPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    engine_mode: EnumProperty(
        name="Engine",
        items=(("BUILT_IN", "Built in", "Run the engine that ships in this extension on Blender's own Python"),
               ("SUBPROCESS", "Python environment",
                "Run the engine in another Python environment (Install Engine; needed for Gaussian avatars)"),
               ("SERVICE", "Service", "Talk to a running 'duet serve' (this computer or another)")),
        default="BUILT_IN")
    python: StringProperty(name="Engine Python", subtype="FILE_PATH",
                           description="The python executable of an environment where Duet is installed")
    venv: StringProperty(name="Environment folder", subtype="DIR_PATH",
                         description="Where 'Install Engine' creates the virtual environment")
    source: StringProperty(name="Engine source", default="",
                           description="What Install Engine pip-installs: empty for the engine wheel inside this "
                                       "extension, else a Duet checkout folder, a wheel or a requirement")
    server_url: StringProperty(name="Server URL", default=DEFAULT_URL)
    token: StringProperty(name="Token", subtype="PASSWORD",
                          description="Bearer token of the service (needed when it is not on this computer)")
    llm_base_url: StringProperty(name="LLM endpoint", default="",
                                 description="OpenAI-compatible base URL (empty: OpenAI; e.g. http://localhost:11434/v1 for Ollama)")
    llm_key: StringProperty(name="API key", subtype="PASSWORD",
                            description="Key for the LLM endpoint; used only with Blender's online access allowed")
    llm_model: StringProperty(name="Model", default="")

    def draw(self, context):
        from . import compat

        layout = self.layout
        layout.prop(self, "engine_mode", expand=True)
        box = layout.box()
        if self.engine_mode == "BUILT_IN":
            box.label(text="Generate runs on Blender's own Python: nothing to set up", icon="CHECKMARK")
            box.label(text="Gaussian avatars need a Python environment with torch: choose Python environment")
        elif self.engine_mode == "SUBPROCESS":
            box.prop(self, "python")
            row = box.row()
            row.prop(self, "venv")
            row = box.row()
            row.prop(self, "source")
            row.operator("duet.install_engine", icon="IMPORT")
        else:
            box.prop(self, "server_url")
            box.prop(self, "token")
            box.operator("duet.check_engine", icon="URL")
        box = layout.box()
        box.label(text="Language model (layout and dialogue; optional, offline without it)")
        if not compat.online_access():
            box.label(text="Online access is off (Preferences > System): the offline layout is used",
                      icon="INFO")
        box.prop(self, "llm_base_url")
        box.prop(self, "llm_key")
        box.prop(self, "llm_model")

    def engine_env(self) -> dict:
        """Environment for the engine subprocess: LLM settings only when online access is allowed."""
        from . import compat

        if not compat.online_access() or not self.llm_key:
            return {"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}
        env = {"OPENAI_API_KEY": self.llm_key}
        if self.llm_base_url:
            env["OPENAI_BASE_URL"] = self.llm_base_url
        if self.llm_model:
            env["DUET_LLM_MODEL"] = self.llm_model
        return env


CLASSES = (DuetPreferences,)

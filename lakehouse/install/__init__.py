"""Installers for every part of the runtime, each idempotent and each writing only under the
project's home. ``lakehouse setup`` runs them in order (see ``lakehouse.install.setup``)."""

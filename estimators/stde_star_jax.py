"""PLACEHOLDER (created by the estimators-SDGD worker): replaced by the real module."""

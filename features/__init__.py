"""The journey diagnosis: canonical events, stage visits, stage metrics, pain points, model matrices."""

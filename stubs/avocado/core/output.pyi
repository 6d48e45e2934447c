import logging

LOG_UI: logging.Logger

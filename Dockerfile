# One image for web and workers. torch==2.13.0 from PyPI is a CUDA build, so the same
# image runs the GPU worker (with an NVIDIA device) and the CPU worker.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 EVALSITE_VAR_DIR=/data
WORKDIR /app
COPY pyproject.toml README.md ./
COPY evalsite evalsite
COPY metrics metrics
COPY ratings ratings
COPY manage.py ./
RUN pip install --no-cache-dir . && \
    DJANGO_SECRET_KEY=build-only python manage.py collectstatic --noinput
VOLUME ["/data"]
EXPOSE 8000
CMD ["gunicorn", "evalsite.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3"]

"""The secret rules table: one entry per kind of secret, in priority order.

When two rules claim overlapping text the earlier one wins, so the precise formats come
first and the generic, name-based rule last. Patterns are ASCII and compiled for both
``str`` and ``bytes``. Examples are templates (see :mod:`vaultgate.detect.examples`) so that
no secret-shaped literal ever sits in the repository.
"""

from __future__ import annotations

from functools import partial

from vaultgate.detect import validators as v
from vaultgate.detect.interface import Example, SecretRule, Severity
from vaultgate.keys.tokens import TOKEN_PATTERN

_KEYCHARS = r"[A-Za-z0-9_-]"

# Written so that a literal "-----BEGIN ..." never appears in the source.
_PEM = (
    r"-{5}BEGIN[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-{5}"
    r"(?P<body>[\s\S]{64,16384}?)-{5}END[ A-Z0-9]{0,30}PRIVATE KEY(?: BLOCK)?-{5}"
)

# Anchored rules: the pattern continues right after one of the anchors (lowercase text).
# Possessive quantifiers: nothing to backtrack into, so a miss fails fast.
_ASSIGNED = r"[\\\"'\]]{0,3}+\)?[ \t]{0,8}+(?:=|:=|:|=>|\|\|=|\?\?=)[ \t]{0,8}+"
_GENERIC_NAME = r"[a-z0-9_.-]{0,32}+" + _ASSIGNED + r"(?:(?:bearer|token|basic)[ \t]+)?"
_GENERIC = (
    _GENERIC_NAME + r"(?:[bru]?\\?(?P<q>[\"'`]))?"
    r"(?P<secret>[a-z0-9+/=_.~-]{16,256}+)"
    r"(?(q)\\?(?P=q)|(?=[\s,;)}\]#&<]|$))"
)
_AZURE_NAME = r"[a-z0-9_-]{0,12}+" + _ASSIGNED + r"[bru]?\\?[\"'`]?"
# Guards (see SecretRule): each pattern below without its groups, cut after the value's
# minimum length. Most ``key``/``token`` words in code fail here, inside the anchor scan.
_GENERIC_GUARD = _GENERIC_NAME + r"(?:[bru]?\\?[\"'`])?[a-z0-9+/=_.~-]{16}"
_AZURE_GUARD = _AZURE_NAME + r"[0-9a-f]{32}"

RULES: tuple[SecretRule, ...] = (
    SecretRule(
        id="vaultgate-token",
        description="vaultgate member key, admin token, short-lived token or SCIM token (checksum valid)",
        severity=Severity.CRITICAL,
        pattern=TOKEN_PATTERN.pattern,
        anchors=("vg[kats]_",),
        boundary=False,
        check_placeholders=False,
        validate=v.vaultgate_token,
        mask=v.mask_vaultgate,
        examples=(
            Example("OPENAI_API_KEY={vgk}", True),
            Example('client = OpenAI(api_key="{vga}")', True),
            Example("token: {vgt}\n", True),
            Example("SCIM_BEARER={vgs}", True),
            Example("OPENAI_API_KEY={vgk_bad}", False),
            Example("vgk_{b62:37}", False),
        ),
    ),
    SecretRule(
        id="openai-api-key",
        description="OpenAI API key (user, project, service account or admin)",
        severity=Severity.CRITICAL,
        pattern=r"sk-(?:(?:proj|svcacct|admin|None)-)?(?P<body>" + _KEYCHARS + r"{20,})",
        anchors=("sk-",),
        validate=v.openai_key,
        mask=v.mask_openai,
        examples=(
            Example("OPENAI_API_KEY=sk-{b62:20}T3BlbkFJ{b62:20}", True),
            Example('api_key = "sk-proj-{b64url:74}T3BlbkFJ{b64url:74}"', True),
            Example("key: sk-svcacct-{b64url:74}T3BlbkFJ{b64url:74}", True),
            Example("sk-admin-{b64url:74}T3BlbkFJ{b64url:74}", True),
            Example("sk-proj-{b64url:156}", True),
            Example('OPENAI_API_KEY="sk-proj-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"', False),
            Example("sk-proj-xxxxxxxxxxxxxxxxxxxxT3BlbkFJxxxxxxxxxxxxxxxxxxxx", False, placeholder=True),
            Example("api_key = sk-your-api-key-here", False),
            Example("task-proj-{b64url:60}", False),
            Example("sk-{b62:48}", False),
        ),
    ),
    SecretRule(
        id="anthropic-api-key",
        description="Anthropic API key",
        severity=Severity.CRITICAL,
        pattern=r"sk-ant-(?:[a-z]{3,8}[0-9]{2}-)?(?P<body>" + _KEYCHARS + r"{32,})",
        anchors=("sk-",),
        validate=v.random_body,
        mask=partial(v.mask_with_prefix, prefix_length=14),
        examples=(
            Example("ANTHROPIC_API_KEY=sk-ant-api03-{b64url:93}AA", True),
            Example("sk-ant-api03-XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", False),
            Example("sk-ant-api03-your-key-here-{b62:40}", False, placeholder=True),
        ),
    ),
    SecretRule(
        id="aws-access-key-id",
        description="AWS access key id",
        severity=Severity.HIGH,
        pattern=r"(?:AKIA|ASIA)(?P<body>[A-Z0-9]{16})(?![A-Za-z0-9])",
        anchors=("A(?:[KS]IA|Iza)",),
        validate=v.aws_access_key,
        mask=partial(v.mask_with_prefix, prefix_length=4),
        examples=(
            Example("aws_access_key_id = AKIA{B32:16}", True),
            Example("AKIA" + "IOSFODNN7EXAMPLE", False, placeholder=True),
            Example("ASIAPACIFICREGIONS", False),
        ),
    ),
    SecretRule(
        id="github-token",
        description="GitHub personal, OAuth, user-to-server, server-to-server or refresh token",
        severity=Severity.HIGH,
        pattern=r"gh[pousr]_(?P<body>[A-Za-z0-9]{36,251})(?![A-Za-z0-9])",
        anchors=("gh[pousr]_|github_pat_",),
        validate=v.random_body,
        mask=partial(v.mask_with_prefix, prefix_length=4),
        examples=(
            Example("GITHUB_TOKEN=ghp_{b62:36}", True),
            Example("ghs_{b62:36}", True),
            Example("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", False),
            Example("ghp_1234567890abcdefghijklmnopqrstuvwxyz", False, placeholder=True),
        ),
    ),
    SecretRule(
        id="github-fine-grained-token",
        description="GitHub fine-grained personal access token",
        severity=Severity.HIGH,
        pattern=r"github_pat_(?P<body>[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9])",
        anchors=("gh[pousr]_|github_pat_",),
        mask=partial(v.mask_with_prefix, prefix_length=11),
        examples=(Example("token = github_pat_{b62:22}_{b62:59}", True),),
    ),
    SecretRule(
        id="slack-token",
        description="Slack bot, user, app or refresh token",
        severity=Severity.HIGH,
        pattern=r"xox[abposre]-(?P<body>[0-9A-Za-z-]{10,250})",
        anchors=("xox[abposre]-",),
        validate=v.has_digit_and_dash,
        mask=partial(v.mask_with_prefix, prefix_length=5),
        examples=(
            Example("SLACK_BOT_TOKEN=xoxb-{digits:12}-{digits:13}-{b62:24}", True),
            Example("xoxb-your-token", False),
        ),
    ),
    SecretRule(
        id="slack-webhook",
        description="Slack incoming webhook URL",
        severity=Severity.MEDIUM,
        pattern=r"https://hooks\.slack\.com/(?:services|workflows|triggers)/"
        r"(?P<body>[A-Za-z0-9+/_-]{20,})",
        anchors=(r"hooks\.slack\.com",),
        boundary=False,
        mask=partial(v.mask_with_prefix, prefix_length=32),
        examples=(
            Example("url: https://hooks.slack.com/services/T{upnum:8}/B{upnum:10}/{b62:24}", True),
            Example(
                "https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
                False,
                placeholder=True,
            ),
        ),
    ),
    SecretRule(
        id="stripe-live-key",
        description="Stripe live secret or restricted key",
        severity=Severity.CRITICAL,
        pattern=r"[sr]k_live_(?P<body>[0-9A-Za-z]{20,247})",
        anchors=("k_(?:live|test)_",),
        validate=v.random_body,
        mask=partial(v.mask_with_prefix, prefix_length=8),
        examples=(
            Example("STRIPE_SECRET_KEY=sk_live_{b62:24}", True),
            Example("pk_live_{b62:24}", False),
        ),
    ),
    SecretRule(
        id="stripe-test-key",
        description="Stripe test-mode secret or restricted key",
        severity=Severity.LOW,
        pattern=r"[sr]k_test_(?P<body>[0-9A-Za-z]{20,247})",
        anchors=("k_(?:live|test)_",),
        validate=v.random_body,
        mask=partial(v.mask_with_prefix, prefix_length=8),
        examples=(Example("stripe.api_key = 'rk_test_{b62:24}'", True),),
    ),
    SecretRule(
        id="google-api-key",
        description="Google API key",
        severity=Severity.HIGH,
        pattern=r"AIza(?P<body>[0-9A-Za-z_-]{35})(?![0-9A-Za-z_-])",
        anchors=("A(?:[KS]IA|Iza)",),
        validate=v.random_body,
        mask=partial(v.mask_with_prefix, prefix_length=4),
        examples=(Example('"apiKey": "AIza{b64url:35}"', True), Example("AIzaSomething", False)),
    ),
    SecretRule(
        id="private-key",
        description="Private key block (PEM: RSA, EC, DSA, OpenSSH, PKCS#8, PGP)",
        severity=Severity.CRITICAL,
        pattern=_PEM,
        anchors=("PRIVATE KEY",),
        boundary=False,
        check_placeholders=False,
        validate=v.private_key_block,
        mask=v.mask_private_key,
        examples=(
            Example("{pem:RSA}", True),
            Example("{pem:OPENSSH}\n", True),
            Example("{pem:-}", True),
            Example("-" * 5 + "BEGIN PRIVATE" + " KEY" + "-" * 5 + "\n...\n" + "-" * 5 + "END", False),
        ),
    ),
    SecretRule(
        id="azure-api-key",
        description="32 hex characters assigned to an api-key-like name (Azure OpenAI and others)",
        severity=Severity.HIGH,
        pattern=_AZURE_NAME + r"(?P<secret>[0-9a-f]{32})(?![0-9a-z])",
        anchors=("key",),
        lowercase=True,
        anchored=True,
        guard=_AZURE_GUARD,
        boundary=False,
        validate=v.api_key_name,
        mask=v.mask_generic,
        examples=(
            Example("AZURE_OPENAI_API_KEY={hex:32}", True),
            Example("azure_openai_key: {hex:32}", True),
            Example('headers = {"api-key": "{HEX:32}"}', True),
            Example("api_key_md5 = '{hex:32}'", False),
            Example("checksum_key = '{hex:32}'", False),
        ),
    ),
    SecretRule(
        id="azure-openai-key",
        description="Azure OpenAI key: 32 hex characters near an openai.azure.com endpoint",
        severity=Severity.CRITICAL,
        pattern=r"(?<![0-9A-Za-z])(?P<secret>[0-9a-fA-F]{32})(?![0-9A-Za-z])",
        anchors=(r"openai\.azure\.com",),
        boundary=False,
        validate=v.near_azure_endpoint,
        mask=v.mask_generic,
        context=400,
        examples=(
            Example("endpoint: https://acme.openai.azure.com/\nkey: {hex:32}", True),
            Example(
                'AzureOpenAI(azure_endpoint="https://x.openai.azure.com", api_key=k)\nk = "{HEX:32}"',
                True,
            ),
            Example("see https://acme.openai.azure.com/\n" + "\n" * 30 + "build {hex:32}", False),
            Example("build {hex:32} finished", False),
        ),
    ),
    SecretRule(
        id="generic-secret",
        description="High-entropy value assigned to a secret-like name (key, secret, token, ...)",
        severity=Severity.MEDIUM,
        pattern=_GENERIC,
        anchors=("key", "secret", "token", "p(?:assw(?:or)?d|wd|assphrase)", "auth(?:orization)?"),
        lowercase=True,
        anchored=True,
        guard=_GENERIC_GUARD,
        boundary=False,
        validate=v.generic_secret,
        mask=v.mask_generic,
        examples=(
            Example('DATABASE_PASSWORD="{b62:24}"', True),
            Example("client_secret: {b64:40}", True),
            Example('const apiKey = "{b62:32}";', True),
            Example("SECRET_KEY = '{hex:64}'", True),
            Example('token_url = "https://example.com/oauth/token"', False),
            Example("api_key = os.environ['OPENAI_API_KEY']", False),
            Example('public_key = "{b64:44}"', False),
            Example('password = "your-password-here-please"', False),
            Example('password = "changeme-{b62:12}"', False, placeholder=True),
            Example('sort(key="created_at_timestamp_desc")', False),
            Example('session_token_id = "{hex:32}"', False),
        ),
    ),
)

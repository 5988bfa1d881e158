"""The audit bundle: for every environment, ``audit/<env>/`` with the synthesized templates and what a
reviewer checks in them (cdk-nag, cfn-lint, inventory, IAM, network exposure, encryption, cost, diagrams).

``python -m auditing`` synthesizes the app once (``auditing.synth``) and writes the bundle from that cloud
assembly (``auditing.bundle``); each report is a pure function of the parsed templates in its own module.
"""

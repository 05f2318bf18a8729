import * as pulumi from "@pulumi/pulumi";
import * as digitalocean from "@pulumi/digitalocean";

export interface StackProjectArgs {
    /** The project's name in the account: project and stack. */
    projectName: string;
    environment?: "Development" | "Staging" | "Production";
    /**
     * DigitalOcean URNs (do:droplet:<id>, do:reservedip:<ip>, do:domain:<name>, do:dbaas:<id>), i.e. each
     * resource's dropletUrn / reservedIpUrn / domainUrn / clusterUrn output, not its Pulumi URN.
     */
    resources: pulumi.Input<string>[];
}

/** A DigitalOcean project that groups the stack's resources in the control panel and in billing. */
export class StackProject extends pulumi.ComponentResource {
    readonly project: digitalocean.Project;

    constructor(name: string, args: StackProjectArgs, opts?: pulumi.ComponentResourceOptions) {
        super("meteor-do:project:StackProject", name, {}, opts);
        this.project = new digitalocean.Project(
            `${name}-project`,
            {
                name: args.projectName,
                description: "meteor-do: Meteor app droplets behind an nginx load balancer (managed by Pulumi)",
                purpose: "Web Application",
                ...(args.environment ? { environment: args.environment } : {}),
                resources: args.resources,
            },
            { parent: this },
        );
        this.registerOutputs({ projectId: this.project.id });
    }
}
